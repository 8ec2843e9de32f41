"""`haulflow import FILE`: parties, contacts, users, orders, bookings, trips, invoices."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from core.database import require_current_schema, session_scope
from ingestion.importer import import_file

console = Console(highlight=False)


def import_entities(
    file: Annotated[Path, typer.Argument(help="YAML or JSON file of entities to upsert.")],
    by: Annotated[str, typer.Option(help="Who imports, recorded in status histories.")] = "cli",
) -> None:
    """Upsert entities by reference, all or nothing; a changed status is recorded."""
    require_current_schema()
    with session_scope() as session:
        report = import_file(file, session=session, by=by)
    console.print(f"imported {file}")
    for line in report.summarize():
        console.print(f"  {line}")
