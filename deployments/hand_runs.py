"""Start a category's hand-run deployment on the Prefect server, as the UI's form does.

The HTTP API sends a small hand run within the request; a larger one (every order created
before a day) becomes a run of `run-<category>-task/<category>s-by-hand`, on whatever serves
it (`haulflow serve`, a worker), with its progress and outcome in the Prefect UI.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import httpx

from core.errors import ConflictError, NotConfiguredError
from core.prefect_runtime import prefect_api_url, prefect_connection, prefect_server_reachable
from deployments.catalog import TAGS, hand_run_deployment
from models import Category
from tasks.runs import VIA_TAG_PREFIX


@dataclass(frozen=True)
class StartedRun:
    """A flow run created on the Prefect server, not finished yet."""

    id: uuid.UUID
    name: str
    deployment: str
    url: str | None

    def to_json(self) -> dict[str, str | None]:
        return {
            "id": str(self.id),
            "name": self.name,
            "deployment": self.deployment,
            "url": self.url,
        }


def start_hand_run(
    *,
    category: Category,
    task_key: str,
    requested_by: str,
    created_before: dt.date,
    dry_run: bool,
    via: str,
) -> StartedRun:
    """Create the run of `category`'s hand-run deployment and return at once."""
    api_url = prefect_api_url()
    if api_url is None:
        raise NotConfiguredError(
            "no Prefect server is configured for this hand run: set PREFECT_API_URL (or start "
            "`haulflow up`, which records its URL)"
        )
    if not prefect_server_reachable(2.0, api_url=api_url):
        raise _unreachable(api_url, "no answer to its health check")
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
    from prefect.settings import PREFECT_UI_URL

    deployment = hand_run_deployment(category)
    parameters = {
        "task_key": task_key,
        "requested_by": requested_by,
        "created_before": created_before.isoformat(),
        "dry_run": dry_run,
    }
    try:
        with prefect_connection(api_url):
            run: FlowRun = run_deployment(  # type: ignore[assignment]  # called sync: a FlowRun
                deployment,
                parameters=parameters,
                timeout=0,
                as_subflow=False,
                tags=[*TAGS, f"{VIA_TAG_PREFIX}{via}"],
            )
            ui = PREFECT_UI_URL.value()
    except PrefectHTTPStatusError as error:
        # The server checks the parameters against the deployment's form (its choices).
        raise ConflictError(
            f"the Prefect server refused a run of {deployment}: {_detail(error)}"
        ) from None
    except ObjectNotFound:
        raise NotConfiguredError(
            f"the Prefect server at {api_url} has no deployment {deployment}: start "
            "`haulflow serve` (or a worker of `prefect deploy`) for this database"
        ) from None
    except (httpx.HTTPError, OSError) as error:
        raise _unreachable(api_url, type(error).__name__) from None
    return StartedRun(
        id=run.id,
        name=run.name,
        deployment=deployment,
        url=f"{ui.rstrip('/')}/runs/flow-run/{run.id}" if ui else None,
    )


def _unreachable(api_url: str, why: str) -> NotConfiguredError:
    return NotConfiguredError(
        f"the Prefect server at {api_url} cannot be reached ({why}): start it (`haulflow up`) "
        "or set PREFECT_API_URL"
    )


def _detail(error: httpx.HTTPStatusError) -> str:
    """What the server said, from its JSON `detail` when it gives one."""
    try:
        body = error.response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    return str(detail or error.response.text or error.response.status_code)
