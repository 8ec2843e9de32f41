"""A hand run end to end, a page of entities at a time: prepare (`manual`), commit, send.

`haulflow tasks run` and the `run-task` flows both call `run_by_hand`, so the Prefect UI's
custom run and the CLI are one path. A run over thousands of older orders is streamed: each
page of `batch_size` entities is prepared in its own transaction, then its e-mails are sent,
and only counts and the first `KEPT` lines stay in memory. Its caller sees each page as it
ends (`on_page`: a progress bar, a Prefect progress artifact) and may stop it between two
e-mails (`should_stop`): what was sent is recorded and done, what was queued and not sent
goes back to `ready`. Running the same command again resumes: done tasks are "already
sent", the rest are sent now.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.database import session_scope
from core.errors import ConflictError, TooManyForRequestError
from delivery.claims import claim_ready_tasks
from delivery.email_tasks import find_definition
from delivery.manual import RunItem, prepare_run
from delivery.reports import DeliveryReport
from delivery.sender import deliver_tasks
from lifecycle.actions import recorded_as, require_active_user
from lifecycle.entities import ENTITY_MODELS, EntityRef, find_entity_id
from models import Category, TaskDefinition, utcnow
from storage.base import DocumentStore

# Per-entity lines and e-mails a run keeps for its caller's summary; the rest are counted.
KEPT = 1_000


@dataclass
class RunResult:
    """A hand run: its totals, and the first `KEPT` entity lines and delivery outcomes."""

    total: int = 0
    items: list[RunItem] = field(default_factory=list)
    report: DeliveryReport = field(default_factory=DeliveryReport)
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("entities", "queued", "sent", "failed", "retrying", "already_sent"), 0
        )
    )
    stopped: bool = False

    def add(self, items: list[RunItem], report: DeliveryReport) -> None:
        """Count one page, keeping its lines while there is room."""
        self.counts["entities"] += len(items)
        self.counts["queued"] += sum(item.queued for item in items)
        self.counts["already_sent"] += sum(
            item.outcome.startswith("already sent") for item in items
        )
        self.counts["sent"] += len(report.sent)
        self.counts["failed"] += len(report.failed) + len(report.uncertain)
        self.counts["retrying"] += len(report.retrying)
        self.items += items[: max(KEPT - len(self.items), 0)]
        room = max(KEPT - len(self.report.sent), 0)
        self.report.merge(
            DeliveryReport(
                sent=report.sent[:room],
                completed=report.completed[:room],
                retrying=report.retrying,
                failed=report.failed,
                uncertain=report.uncertain,
            )
        )

    def to_json(self) -> dict[str, Any]:
        """Plain data: totals, each entity's outcome and previews, e-mails sent, problems."""
        report = self.report
        return {
            "total": self.total,
            "counts": dict(self.counts),
            "stopped": self.stopped,
            "entities": [
                {
                    "entity": item.entity,
                    "outcome": item.outcome,
                    "task_id": str(item.task_id) if item.task_id else None,
                    "previews": [asdict(preview) for preview in item.previews],
                }
                for item in self.items
            ],
            "sent": [asdict(email) | {"task_id": str(email.task_id)} for email in report.sent],
            "problems": [
                {"kind": kind, "entity": problem.entity, "error": problem.error}
                for kind, problems in (
                    ("retrying", report.retrying),
                    ("failed", report.failed),
                    ("uncertain", report.uncertain),
                )
                for problem in problems
            ],
        }


@dataclass(frozen=True)
class RunPage:
    """One page of a run as it ends: its entities' lines, what sending did, totals so far."""

    items: list[RunItem]
    report: DeliveryReport
    so_far: RunResult


def run_by_hand(
    *,
    key: str,
    refs: list[EntityRef],
    created_before: datetime | None,
    dry_run: bool,
    by: str,
    store: DocumentStore,
    now: Callable[[], datetime] = utcnow,
    batch_size: int = 200,
    category: Category | None = None,
    flow_run_id: uuid.UUID | None = None,
    on_page: Callable[[RunPage], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    at_most: int | None = None,
    via: str | None = None,
) -> RunResult:
    """`haulflow tasks run` and the `run-<category>-task` flows: page by page, prepare and send.

    `category` refuses a definition of another category (each flow runs its own);
    `flow_run_id` is recorded on every claim, history line and communication-log row;
    `at_most` refuses, before anything is sent, a run over more entities; `via` (an API
    token) is recorded beside the user `by`.
    """
    with session_scope() as session:
        if not dry_run:
            require_active_user(session=session, username=by)
            by = recorded_as(by, via)
        definition = find_definition(session=session, key=key, category=category)
        definition_id, kind = definition.id, Category(definition.category)
        _check_target(kind, refs, created_before)
        # Named entities are looked up first: an unknown one refuses the run before any send.
        named = [(find_entity_id(session=session, ref=ref), ref.reference) for ref in refs]
        result = RunResult(total=len(named) or count_before(session, kind, created_before))
        if at_most is not None and result.total > at_most:
            raise TooManyForRequestError(
                f"{result.total:,} {kind.value}s match; at most {at_most:,} per request: run it "
                f"from the Prefect UI ({kind.value}s by hand) or with `haulflow tasks run`",
                total=result.total,
                category=kind.value,
            )
    for page in entity_pages(kind, named, created_before, batch_size):
        with session_scope() as session:
            items = prepare_run(
                session=session,
                store=store,
                definition=session.get_one(TaskDefinition, definition_id),
                entities=page,
                by=by,
                now=now(),
                dry_run=dry_run,
                flow_run_id=flow_run_id,
            )
            claimed: list[uuid.UUID] = []
            if dry_run:
                # Composing flushed nothing, but a dry run must leave no trace even so.
                session.rollback()
            else:
                claimed = _claim(session, items, by, now(), flow_run_id)
        report = _send(claimed, store, by, now, flow_run_id, should_stop)
        result.add(items, report)
        result.stopped = should_stop()
        if on_page is not None:
            on_page(RunPage(items, report, result))
        if result.stopped:
            break
    return result


def _claim(
    session: Session,
    items: list[RunItem],
    by: str,
    now: datetime,
    flow_run_id: uuid.UUID | None,
) -> list[uuid.UUID]:
    """Claim the tasks the page queued, in the transaction that queued them: the commit that
    makes them ready wakes the dispatcher too, and a task it claimed first would go out as
    the automation's, not as the person's run."""
    queued = [item.task_id for item in items if item.queued and item.task_id is not None]
    if not queued:
        return []
    return claim_ready_tasks(
        session=session,
        now=now,
        by=by,
        limit=len(queued),
        task_ids=queued,
        flow_run_id=flow_run_id,
    )


def _send(
    claimed: list[uuid.UUID],
    store: DocumentStore,
    by: str,
    now: Callable[[], datetime],
    flow_run_id: uuid.UUID | None,
    should_stop: Callable[[], bool],
) -> DeliveryReport:
    if not claimed:
        return DeliveryReport()
    return deliver_tasks(
        task_ids=claimed,
        store=store,
        by=by,
        now=now,
        flow_run_id=flow_run_id,
        should_stop=should_stop,
    )


def count_before(session: Session, category: Category, created_before: datetime | None) -> int:
    """How many entities of `category` were created before that moment."""
    model = ENTITY_MODELS[category]
    statement = sa.select(sa.func.count()).where(col(model.created_at) < created_before)
    return int(session.execute(statement).scalar_one())


def entity_pages(
    category: Category,
    named: list[tuple[uuid.UUID, str]],
    created_before: datetime | None,
    size: int,
) -> Iterator[list[tuple[uuid.UUID, str]]]:
    """The run's entities, `size` at a time: those named, else those created before a day.

    The latter are paged by (created_at, id), each page read in a session of its own, so a
    page costs the same at the start and at the end of 100,000 entities, and entities
    created meanwhile (after that day) never join.
    """
    for start in range(0, len(named), size):
        yield named[start : start + size]
    if named:
        return
    model = ENTITY_MODELS[category]
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        statement = (
            select(model.id, model.reference, model.created_at)
            .where(col(model.created_at) < created_before)
            .order_by(col(model.created_at), col(model.id))
            .limit(size)
        )
        if after is not None:
            statement = statement.where(
                sa.tuple_(col(model.created_at), col(model.id)) > sa.tuple_(*after)
            )
        with session_scope() as session:
            rows = session.exec(statement).all()
        if not rows:
            return
        yield [(entity_id, reference) for entity_id, reference, _ in rows]
        _, _, last_created = rows[-1]
        after = (last_created, rows[-1][0])


def _check_target(
    category: Category, refs: list[EntityRef], created_before: datetime | None
) -> None:
    wrong = [str(ref) for ref in refs if ref.category is not category]
    if wrong:
        raise ConflictError(f"the task is for {category.value}s, not {', '.join(wrong)}")
    # Said in the words of every face: the CLI's arguments, the UI form's and the API's fields.
    if not refs and created_before is None:
        raise ConflictError(
            "name the entities (order:REFERENCE ...) or the day they were created before"
        )
    if refs and created_before is not None:
        raise ConflictError(
            "name the entities or the day they were created before, not both: "
            "the day would be ignored"
        )
