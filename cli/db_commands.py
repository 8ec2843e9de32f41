"""`haulflow db ...`: schema migrations."""

from __future__ import annotations

import typer

from cli.output import console
from services.schema import schema_state
from services.schema import upgrade as upgrade_schema

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Migrate the database to this version of haulflow (creates it when empty)."""
    before, after = upgrade_schema()
    if before.current == after.current:
        console.print(f"database {after.database} already at revision {after.current}")
    else:
        console.print(
            f"database {after.database} upgraded from {before.current or 'empty'} to "
            f"{after.current}"
        )


@app.command("status")
def status() -> None:
    """Show the database's revision and whether it is current; exit 1 when behind."""
    state = schema_state()
    console.print(f"database revision {state.current or 'empty'}, code expects {state.head}")
    if state.current != state.head:
        console.print("run `haulflow db upgrade`")
        raise typer.Exit(1)
