"""`haulflow db ...`: schema migrations."""

from __future__ import annotations

import typer

from cli.output import console
from core.database import current_revision, get_engine, head_revision, upgrade_database

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Migrate the database to this version of haulflow (creates it when empty)."""
    engine = get_engine()
    before = current_revision(engine)
    upgrade_database(engine)
    after = current_revision(engine)
    where = engine.url.render_as_string(hide_password=True)
    if before == after:
        console.print(f"database {where} already at revision {after}")
    else:
        console.print(f"database {where} upgraded from {before or 'empty'} to {after}")


@app.command("status")
def status() -> None:
    """Show the database's revision and whether it is current; exit 1 when behind."""
    engine = get_engine()
    current = current_revision(engine)
    head = head_revision()
    console.print(f"database revision {current or 'empty'}, code expects {head}")
    if current != head:
        console.print("run `haulflow db upgrade`")
        raise typer.Exit(1)
