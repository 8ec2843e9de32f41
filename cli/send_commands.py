"""`haulflow tasks run` and `tasks resend`: send an email task by hand, or again on purpose."""

from __future__ import annotations

import json
import re
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from cli.output import console, stderr
from cli.task_commands import By
from core.errors import HaulflowError
from core.text import counted
from services.entities import parse_entity_ref
from services.schema import require_current_schema
from services.tasks import (
    DeliveryReport,
    RunItem,
    RunPage,
    RunResult,
    SentEmail,
    carrier_midnight,
    hand_run,
)
from services.tasks import resend as resend_use_case

# A run over more entities shows a progress bar and a summary instead of a line each.
LISTED_ENTITIES = 50


def register(app: typer.Typer) -> None:
    """Add `run` and `resend` to the `tasks` command group."""
    app.command("run")(run)
    app.command("resend")(resend)


def run(
    task_key: Annotated[str, typer.Argument(metavar="TASK_KEY", help="The definition's key.")],
    entities: Annotated[
        list[str] | None,
        typer.Argument(metavar="ENTITY", help="order:REF ...; or use --created-before."),
    ] = None,
    created_before: Annotated[
        str | None,
        typer.Option(
            metavar="YYYY-MM-DD",
            help="Every entity of the task's category created before this day (carrier's time).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show who would receive what; send nothing.")
    ] = False,
    by: By = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print what the run did as JSON at the end.")
    ] = False,
) -> None:
    """Send an email task by hand, for entities created before the automation.

    Creates the task from the current definition where the entity has none, then sends.
    A task already sent is left alone: running twice never sends twice.
    """
    if not dry_run and not by:
        raise HaulflowError("say who runs the task: --by USERNAME, or set HAULFLOW_USER")
    refs = [parse_entity_ref(entity) for entity in entities or []]
    before = _parse_day(created_before) if created_before else None
    require_current_schema()
    with _progress() as progress, _stop_on_ctrl_c() as stop:
        result = hand_run(
            key=task_key,
            refs=refs,
            created_before=before,
            dry_run=dry_run,
            by=by or "dry-run",
            on_page=None if as_json else progress.page,
            should_stop=stop.is_set,
        )
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    elif not result.total:
        console.print("no entity matches: nothing to do")
    else:
        _print_summary(result, dry_run=dry_run)
    if result.stopped:
        counts = result.counts
        stderr.print(
            f"stopped after {counted(counts['sent'], 'e-mail')} sent ({counts['entities']:,} of "
            f"{counted(result.total, 'entity', 'entities')} looked at); run the same command again "
            "to go on (what "
            "was sent is not sent again)"
        )
        raise typer.Exit(130)
    if result.counts["failed"] or result.counts["retrying"]:
        raise typer.Exit(1)


class _Pages:
    """Per page: each entity's line while a run is short, a progress bar with ETA after."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.bar_task: TaskID | None = None

    def page(self, page: RunPage) -> None:
        total = page.so_far.total
        if total <= LISTED_ENTITIES:
            for item in page.items:
                _print_item(item)
            _print_report(page.report)
            return
        if self.bar_task is None:
            self.bar_task = self.bar.add_task("entities", total=total)
            self.bar.start()
        self.bar.update(self.bar_task, completed=page.so_far.counts["entities"])
        for problem in page.report.failed + page.report.uncertain:
            self.bar.console.print(
                f"[red]failed[/red] {escape(problem.entity)}: {escape(problem.error)}"
            )


@contextmanager
def _progress() -> Iterator[_Pages]:
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=stderr,
        transient=False,
    )
    pages = _Pages(bar)
    try:
        yield pages
    finally:
        if pages.bar_task is not None:  # stopping a bar never shown prints a blank line
            bar.stop()


@contextmanager
def _stop_on_ctrl_c() -> Iterator[threading.Event]:
    """A first Ctrl-C stops the run after the e-mail being sent; a second one at once."""
    stop = threading.Event()

    def handle(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        stderr.print("stopping after the current e-mail (Ctrl-C again to stop at once)")

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def _print_item(item: RunItem) -> None:
    console.print(f"{escape(item.entity)}: {escape(item.outcome)}")
    for preview in item.previews:
        attachments = ", ".join(preview.attachments) or "no attachment"
        console.print(
            f"  to {escape(', '.join(preview.recipients))} {escape(f'[{preview.language}]')} "
            f"{escape(repr(preview.subject))}; {escape(attachments)}; {preview.size:,} bytes"
        )


def _print_summary(result: RunResult, *, dry_run: bool) -> None:
    if result.total <= LISTED_ENTITIES:
        return
    counts = result.counts
    verb = "would be sent" if dry_run else "sent"
    console.print(
        f"{counted(counts['entities'], 'entity', 'entities')}: {counts['queued']:,} queued, "
        f"{counted(counts['sent'], 'e-mail')} {verb}, {counts['already_sent']:,} already sent, "
        f"{counts['failed']:,} failed, "
        f"{counts['retrying']:,} to retry"
    )


def resend(
    task_id: Annotated[str, typer.Argument(metavar="TASK_ID", help="The task id or its prefix.")],
    to: Annotated[
        str | None, typer.Option(metavar="ADDRESS", help="Send to this address instead.")
    ] = None,
    by: By = None,
) -> None:
    """Send a done task's e-mails again on purpose, recorded with who asked."""
    if not by:
        raise HaulflowError("say who asks for the resend: --by USERNAME, or set HAULFLOW_USER")
    require_current_schema()
    resent = resend_use_case(task_id=task_id, by=by, to=to)
    for email in resent.sent:
        _print_sent(email)
    problem = resent.problem()
    if problem is not None:
        raise HaulflowError(problem)


def _parse_day(text: str) -> datetime:
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
            raise HaulflowError(f"--created-before '{text}': no such day") from None
        raise HaulflowError(f"--created-before '{text}': write a day as YYYY-MM-DD") from None
    return carrier_midnight(day.date())


def _print_report(report: DeliveryReport) -> None:
    """Each e-mail sent and each task left behind."""
    for email in report.sent:
        _print_sent(email)
    for problem in report.retrying:
        stderr.print(f"will retry {escape(problem.entity)}: {escape(problem.error)}")
    for problem in report.failed:
        stderr.print(f"[red]failed[/red] {escape(problem.entity)}: {escape(problem.error)}")
    for problem in report.uncertain:
        stderr.print(
            f"[red]sent but not recorded[/red] {escape(problem.entity)}: {escape(problem.error)}"
        )


def _print_sent(email: SentEmail) -> None:
    console.print(
        f"sent {escape(email.entity)} to {escape(', '.join(email.recipients))}: "
        f"{escape(repr(email.subject))}, {counted(email.attachments, 'attachment')}, "
        f"{escape(email.message_id)}"
    )
