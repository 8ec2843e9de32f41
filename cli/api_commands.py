"""`haulflow api`: serve the HTTP API; `haulflow tokens ...`: the tokens that may call it."""

from __future__ import annotations

import logging
import time
from typing import Annotated

import typer
from rich.markup import escape

from cli.output import console
from core.moments import human_moment
from core.settings import get_settings
from models import Scope, utcnow
from services.schema import require_current_schema

tokens = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True)


def api(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on [HAULFLOW_API_HOST].")
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port [HAULFLOW_API_PORT, 8300].")
    ] = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) until Ctrl-C."""
    import uvicorn

    from api.app import create_app, request_log

    settings = get_settings()
    require_current_schema()
    host, port = host or settings.api_host, port or settings.api_port
    console.print(f"haulflow API on http://{host}:{port} (OpenAPI: http://{host}:{port}/docs)")
    # Each request as one line on stderr, with its time (UTC); uvicorn's own only from warnings.
    handler = logging.StreamHandler()
    formatter = logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    request_log.addHandler(handler)
    request_log.setLevel(logging.INFO)
    request_log.propagate = False  # Prefect's root handler would print each line again
    uvicorn.run(create_app(), host=host, port=port, log_level="warning", access_log=False)


@tokens.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Who uses it, e.g. tms or driver-app; recorded.")],
    scope: Annotated[
        list[Scope] | None,
        typer.Option(help="read, write or send (repeat the option) [read]."),
    ] = None,
) -> None:
    """Create a token and print its secret, once: it is stored only as a hash."""
    from services.tokens import create_token

    require_current_schema()
    token, secret = create_token(name=name, scopes=scope or [Scope.READ], now=utcnow())
    console.print(f"token {escape(token.name)} ({token.scopes}); keep this secret, shown once:")
    typer.echo(secret)


@tokens.command("list")
def list_() -> None:
    """Every token: name, scopes, the secret's first characters, last use, revocation."""
    from services.tokens import list_tokens

    require_current_schema()
    rows = list_tokens()
    if not rows:
        console.print("no API token: `haulflow tokens create NAME --scope read`")
    for token in rows:
        used = human_moment(token.last_used_at) if token.last_used_at else "never"
        state = f"revoked {human_moment(token.revoked_at)}" if token.revoked_at else "live"
        console.print(
            f"{escape(token.name):<24} {token.scopes:<16} {token.hint}…  last used {used}  {state}"
        )


@tokens.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="The token's name.")]) -> None:
    """Revoke a token: its next request is refused; its name stays in the histories."""
    from services.tokens import revoke_token

    require_current_schema()
    token = revoke_token(name=name, now=utcnow())
    console.print(f"token {escape(token.name)} revoked {human_moment(token.revoked_at)}")
