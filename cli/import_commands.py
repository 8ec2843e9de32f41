"""`haulflow import FILE`: upsert entities, generate tasks for the new ones, reschedule the rest.

Import and generation are two transactions, on purpose: generation then runs as a Prefect
flow run (visible in the UI) in batches of a few hundred entities instead of one transaction
over 10,000 orders. It is safe: a created entity keeps `tasks_generated_at` null until the
batch generating its tasks commits, so if generation fails, or the process dies in between,
the entity stays pending and the next `generate-tasks` sweep generates its tasks; generation
is idempotent, so running it again never duplicates a task.

With a reachable Prefect server, generation is the `generate-tasks` flow run in this process
(one run per category imported) and a `haulflow.entities.changed` wake-up follows. Without
one, the same steps run here without Prefect, and Prefect is not even imported; no command
ever starts a temporary Prefect server.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from cli.output import console
from core.prefect_runtime import (
    forbid_ephemeral_server,
    prefect_api_url,
    prefect_connection,
    prefect_server_reachable,
)
from models import Category
from services.imports import (
    BATCH_SIZE,
    GenerationReport,
    IdsByCategory,
    WaitingReport,
    generate_here,
    import_entity_file,
    non_empty,
    reschedule,
    take_in_waiting_drops,
)
from services.schema import require_current_schema

# A category, what generation did for it, and where it ran (a flow run, or this process).
Generated = tuple[Category, GenerationReport, str]


def import_entities(
    file: Annotated[Path, typer.Argument(help="YAML or JSON file of entities to upsert.")],
    by: Annotated[str, typer.Option(help="Who imports, recorded in status histories.")] = "cli",
) -> None:
    """Upsert entities by reference, all or nothing; then generate and reschedule their tasks."""
    forbid_ephemeral_server()
    require_current_schema()
    report = import_entity_file(file, by=by)
    lines = report.summarize()
    if not lines:
        # An export that came out empty is worth a look, not a failure: nothing changed.
        console.print(f"imported {escape(str(file))}: it holds no entity, nothing changed")
        return
    console.print(f"imported {escape(str(file))}")
    for line in lines:
        console.print(f"  {line}")
    created, changed = non_empty(report.created), non_empty(report.changed)
    if not created and not changed:
        return
    api_url = prefect_api_url()
    try:
        if api_url is not None and prefect_server_reachable(api_url=api_url):
            _with_prefect(api_url, created, changed, by=by)
        else:
            where = f"at {api_url}" if api_url else "(not configured)"
            console.print(
                f"Prefect server not reachable {escape(where)}: tasks generated in this "
                "process; no run appears in the Prefect UI"
            )
            generated = generate_here(created, by=by)
            _print_generated([(c, report, "in this process") for c, report in generated.items()])
            _print_rescheduled(reschedule(changed, by=by))
        if {Category.ORDER, Category.TRIP} & set(created):
            _print_drops(take_in_waiting_drops())
    except Exception as error:
        # The import is committed; the entities stay pending for the next sweep.
        console.print(
            f"[red]error:[/red] the import is saved, but generating or rescheduling tasks failed "
            f"({escape(type(error).__name__)}: {escape(str(error))}); the next generate-tasks "
            "sweep generates the missing tasks"
        )
        raise typer.Exit(1) from error


def _with_prefect(api_url: str, created: IdsByCategory, changed: IdsByCategory, *, by: str) -> None:
    """Generation as `generate-tasks` flow runs on the server, then the wake-up event."""
    # The runs' log lines belong in the Prefect UI, not on the operator's terminal (set
    # before Prefect is imported, which reads it once); warnings still show.
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    with prefect_connection(api_url):
        from core.events import emit_entities_changed

        _print_generated(asyncio.run(_run_generate_flows(created)))
        _print_rescheduled(reschedule(changed, by=by))
        emit_entities_changed(created, changed, reason="import", api_url=api_url)


async def _run_generate_flows(created: IdsByCategory) -> list[Generated]:
    """One `generate-tasks` run per category that has created entities."""
    from flows.generate_tasks import generate_tasks as generate_tasks_flow

    reports: list[Generated] = []
    for category in created:
        # The run drains every pending entity of the category (the imported ones among
        # them) instead of taking their ids: 10,000 ids would bloat the run's parameters.
        state = await generate_tasks_flow(
            category=category,
            reason="import",
            batch_size=BATCH_SIZE,
            return_state=True,
        )
        counts = (await state.aresult())[category.value]
        report = GenerationReport(
            entities=counts["entities"],
            created=counts["created"],
            already_present=counts["already_present"],
            not_matching=counts["not_matching"],
        )
        reports.append((category, report, f"flow run {state.state_details.flow_run_id}"))
    return reports


def _print_drops(report: WaitingReport | None) -> None:
    if report is None:
        return
    for outcome in report.recorded:
        console.print(f"  inbox drop recorded now that its entity exists: {escape(outcome.key)}")
    for outcome in report.refused:
        console.print(f"  [yellow]inbox drop refused:[/yellow] {escape(outcome.message)}")
    if report.retried:
        console.print(f"  {report.retried} inbox drop(s) could not be read now; the sweep retries")


def _print_generated(reports: list[Generated]) -> None:
    for category, report, where in reports:
        console.print(f"  {category.value} tasks: {escape(report.summary())} ({where})")


def _print_rescheduled(count: int) -> None:
    if count:
        console.print(f"  rescheduled: {count} unfinished tasks of updated entities")
