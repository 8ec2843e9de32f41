"""`haulflow serve`: serve every deployment (triggers and schedules) from this process."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.output import console
from core.errors import NotConfiguredError
from core.prefect_runtime import prefect_api_url, prefect_connection, prefect_server_reachable
from deployments.catalog import DEPLOYMENT_NAMES


def serve(
    limit: Annotated[
        int, typer.Option(min=1, help="Flow runs at once (each runs in its own process).")
    ] = 8,
) -> None:
    """Register and serve haulflow's deployments until Ctrl-C; runs happen in this process."""
    url = prefect_api_url()
    if url is None or not prefect_server_reachable(api_url=url):
        where = url or "no PREFECT_API_URL"
        raise NotConfiguredError(
            f"no Prefect server answers ({where}): start the local stack with `haulflow up`, "
            "or set PREFECT_API_URL to your server's API"
        )
    from deployments.serve import serve_all

    console.print(f"serving {len(DEPLOYMENT_NAMES)} deployments on {url}")
    with prefect_connection(url):
        serve_all(limit=limit)
