"""`haulflow tasks ...`: an entity's tasks and history, worklists, manual work, recalculation."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.table import Column, Table

from cli.output import console, one_line
from core.errors import HaulflowError
from core.settings import get_settings
from models import Category, TaskStatus, utcnow
from services.entities import EntityTaskList, TaskHistoryLine, entity_page, parse_entity_ref
from services.schema import require_current_schema
from services.tasks import Outcome, WorklistRow, finish, worklist_page
from services.tasks import recalculate as recalculate_entity

app = typer.Typer(
    help="Tasks: an entity's tasks and history, worklists, marking tasks done or skipped.",
    no_args_is_help=True,
)

STATUS_NAMES = ", ".join(TaskStatus)
CATEGORY_NAMES = ", ".join(Category)
WORKLIST_FILTERS = "--status, --category, --responsible, --overdue or --documents-missing-days"

TaskIds = Annotated[
    list[str],
    typer.Argument(
        metavar="TASK_ID",
        help="Task ids, or their first 8 characters as `tasks list` shows them.",
    ),
]
By = Annotated[
    str | None,
    typer.Option(
        envvar="HAULFLOW_USER",
        metavar="USERNAME",
        show_envvar=True,
        help="Username recorded as who acted (a known, active user).",
    ),
]
Note = Annotated[
    str | None, typer.Option(help="Why, kept in each task's history.", callback=one_line)
]


@app.command("list")
def list_tasks(
    entity: Annotated[
        str | None,
        typer.Argument(
            metavar="ENTITY",
            help="order:REF, booking:REF, trip:REF or invoice:REF; omit for a worklist.",
        ),
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            metavar="STATUS[,STATUS]",
            help=f"Worklist: these statuses, comma-separated ({STATUS_NAMES}).",
        ),
    ] = None,
    category: Annotated[
        str | None, typer.Option(metavar="CATEGORY", help=f"Worklist: one of {CATEGORY_NAMES}.")
    ] = None,
    responsible: Annotated[
        str | None,
        typer.Option(
            metavar="WHO",
            help="Worklist: USERNAME (the user's tasks and those of the user's teams), "
            "user:USERNAME (the user's only), team:KEY or role:KEY.",
        ),
    ] = None,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Worklist: due before today and not finished.")
    ] = False,
    documents_missing_days: Annotated[
        int | None,
        typer.Option(
            metavar="N", help="Worklist: still waiting for documents N days after creation."
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option(metavar="N", help="Worklist: at most this many rows.")
    ] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show ENTITY's tasks and history (its page), or a worklist across entities."""
    statuses = _parse_statuses(status or [])
    category_filter = _parse_category(category)
    if documents_missing_days is not None and documents_missing_days < 0:
        raise HaulflowError("--documents-missing-days: give a number of days, 0 or more")
    if limit < 1:
        raise HaulflowError("--limit: give 1 or more")
    filtered = bool(statuses or category_filter or responsible or overdue)
    filtered = filtered or documents_missing_days is not None
    if entity is not None and filtered:
        raise HaulflowError(
            f"give ENTITY for its page, or worklist filters ({WORKLIST_FILTERS}), not both"
        )
    if entity is None and not filtered:
        raise HaulflowError(
            f"give ENTITY (e.g. order:ORD-1001) or at least one of {WORKLIST_FILTERS}"
        )
    zone = _carrier_zone()
    require_current_schema()
    now = utcnow()
    if entity is not None:
        ref = parse_entity_ref(entity)
        page = entity_page(ref)
        if as_json:
            typer.echo(json.dumps(page.to_json(), indent=2, ensure_ascii=False))
        else:
            _print_page(page, zone, now)
        return
    found = worklist_page(
        statuses=statuses,
        category=category_filter,
        responsible=responsible,
        overdue=overdue,
        documents_missing_days=documents_missing_days,
        limit=limit,
    )
    rows, truncated = found.rows, found.next_cursor is not None
    if as_json:
        payload: dict[str, Any] = {
            "tasks": [row.to_json() for row in rows],
            "limit": limit,
            "truncated": truncated,
        }
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    _print_worklist(rows, zone)
    if truncated:
        console.print(f"only the first {limit} shown: narrow the filters or raise --limit")


@app.command("done")
def mark_done(task_ids: TaskIds, by: By = None, note: Note = None) -> None:
    """Mark tasks done, all or none; each change is recorded with who, when and the note."""
    _finish(task_ids, "done", by, note)


@app.command("skip")
def mark_skipped(task_ids: TaskIds, by: By = None, note: Note = None) -> None:
    """Mark tasks skipped, all or none; each change is recorded with who, when and the note."""
    _finish(task_ids, "skip", by, note)


@app.command("recalculate")
def recalculate(
    entity: Annotated[str, typer.Argument(metavar="ENTITY", help="order:REF, trip:REF, ...")],
    by: By = None,
) -> None:
    """Re-apply the current configuration to one entity: add missing tasks, refresh open ones.

    Finished tasks (done, failed, skipped, cancelled) are never touched.
    """
    ref = parse_entity_ref(entity)
    require_current_schema()
    changes = recalculate_entity(ref=ref, by=by or "cli")
    console.print(f"recalculated {escape(str(ref))}")
    for change in changes:
        console.print(f"  {escape(change)}")


def _finish(task_ids: list[str], outcome: Outcome, by: str | None, note: str | None) -> None:
    if not by:
        raise HaulflowError("say who finishes the tasks: --by USERNAME, or set HAULFLOW_USER")
    require_current_schema()
    for task, label in finish(task_ids=task_ids, outcome=outcome, by=by, note=note):
        console.print(f"{task.status} {escape(label)} by {escape(by)}")


def _parse_statuses(values: list[str]) -> list[TaskStatus]:
    statuses: list[TaskStatus] = []
    for value in values:
        for name in filter(None, (part.strip().lower() for part in value.split(","))):
            try:
                statuses.append(TaskStatus(name))
            except ValueError:
                raise typer.BadParameter(
                    f"unknown status '{name}'; valid: {STATUS_NAMES}", param_hint="'--status'"
                ) from None
    return statuses


def _parse_category(value: str | None) -> Category | None:
    if value is None:
        return None
    try:
        return Category(value.strip().lower())
    except ValueError:
        raise typer.BadParameter(
            f"unknown category '{value}'; valid: {CATEGORY_NAMES}", param_hint="'--category'"
        ) from None


def _carrier_zone() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)  # checked when the settings are read


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "-"


def _change(from_status: str | None, to_status: str) -> str:
    return f"{from_status} → {to_status}" if from_status else f"created {to_status}"


def _table(*headers: str, title: str) -> Table:
    # Keys, statuses and references have no spaces: on a narrow terminal folding keeps
    # every character, where the default would cut them with an ellipsis.
    return Table(*(Column(header, overflow="fold") for header in headers), title=title)


def _print_page(page: EntityTaskList, zone: ZoneInfo, now: datetime) -> None:
    entity = page.entity
    console.print(
        f"[bold]{escape(str(entity))}[/bold]  status {entity.status}, "
        f"created {_local(entity.created_at, zone)}  [dim](times in {zone.key})[/dim]"
    )
    for line in page.status_history:
        change = _change(line.from_status, line.to_status)
        console.print(f"  {_local(line.at, zone)}  {change}  by {escape(line.by)}")
    if not page.tasks:
        console.print("no tasks on this entity")
        return
    table = _table("id", "task", "status", "responsible", "due", "completed", title="Tasks")
    for task in page.tasks:
        due = _local(task.due_at, zone)
        if task.is_overdue(now):
            due += "\n[red]overdue[/red]"
        completed = "-"
        if task.completed_at:
            completed = f"{_local(task.completed_at, zone)}\nby {escape(task.completed_by or '?')}"
        status = task.status
        if task.last_error:
            status += f"\n[red]{escape(task.last_error[:80])}[/red]"
        table.add_row(
            task.short_id,
            f"{task.key}\n[dim]{escape(task.name)}[/dim]",
            status,
            escape(task.responsible or "-"),
            due,
            completed,
        )
    console.print(table)
    console.print("[bold]History[/bold]")
    for task in page.tasks:
        console.print(f"  {task.short_id} {task.key}")
        for event in task.history:
            console.print(f"    {_history_line(event, zone)}")
        for email in task.emails:
            attached = ", ".join(email.attachments) or "no attachment"
            sender = escape(email.requested_by) + _in_run(email.requested_by, email.flow_run_id)
            console.print(
                f"    e-mail {email.short_id} sent {_local(email.sent_at, zone)} to "
                f"{escape(', '.join(email.recipients))}: {escape(repr(email.subject))} "
                f"({escape(attached)}) by {sender}; "
                f"`haulflow communications download {email.short_id}`"
            )


def _history_line(event: TaskHistoryLine, zone: ZoneInfo) -> str:
    text = f"{_local(event.at, zone)}  {_change(event.from_status, event.to_status)}"
    text += f"  by {escape(event.by)}{_in_run(event.by, event.flow_run_id)}"
    return text + (f": {escape(event.note)}" if event.note else "")


def _in_run(by: str, flow_run_id: uuid.UUID | None) -> str:
    """Where to find the step in the Prefect UI: its flow run (the audit trail's other half),
    unless `by` already names it (`flow-run:ID`, an automation's step)."""
    if flow_run_id is None or by == f"flow-run:{flow_run_id}":
        return ""
    return f" in flow run {flow_run_id}"


def _print_worklist(rows: list[WorklistRow], zone: ZoneInfo) -> None:
    if not rows:
        console.print("no task matches")
        return
    title = f"Tasks (times in {zone.key})"
    table = _table("id", "entity", "task", "status", "responsible", "due", title=title)
    for row in rows:
        due = _local(row.due_at, zone) + ("\n[red]overdue[/red]" if row.overdue else "")
        status = row.status + (
            f"\n[red]{escape(row.last_error[:80])}[/red]" if row.last_error else ""
        )
        table.add_row(
            row.short_id,
            escape(row.entity),
            f"{row.key}\n[dim]{escape(row.name)}[/dim]",
            status,
            escape(row.responsible or "-"),
            due,
        )
    console.print(table)
    console.print(f"{len(rows)} task(s)")
