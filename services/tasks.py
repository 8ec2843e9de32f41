"""Tasks across entities: worklists page by page, done/skip, explain, hand runs, resends,
and the archived e-mails they sent."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from core.database import session_scope
from core.errors import ConflictError, HaulflowError, NotFoundError
from core.settings import get_settings
from delivery.explain import Explanation as Explanation
from delivery.explain import explain_task
from delivery.manual import RunItem as RunItem
from delivery.reports import DeliveryReport as DeliveryReport
from delivery.reports import SentEmail as SentEmail
from delivery.resend import Resent, resend_task
from delivery.runs import RunPage as RunPage
from delivery.runs import RunResult as RunResult
from delivery.runs import run_by_hand
from lifecycle.actions import Outcome as Outcome
from lifecycle.actions import (
    describe_tasks,
    find_tasks,
    finish_tasks,
    match_id_prefix,
    parse_id_prefix,
)
from lifecycle.entities import EntityRef
from lifecycle.recalculation import recalculate_entity
from lifecycle.worklists import WorklistPosition, worklist
from lifecycle.worklists import WorklistRow as WorklistRow
from models import Category, Communication, Task, TaskStatus, utcnow
from storage.factory import open_document_store


class InvalidCursorError(HaulflowError):
    """A worklist cursor this worklist did not give."""


@dataclass(frozen=True)
class WorklistPage:
    """One page of a worklist, and the cursor of the next (None: this was the last)."""

    rows: list[WorklistRow]
    next_cursor: str | None


def worklist_page(
    *,
    statuses: list[TaskStatus],
    category: Category | None,
    responsible: str | None,
    overdue: bool,
    documents_missing_days: int | None,
    limit: int,
    cursor: str | None = None,
) -> WorklistPage:
    """The `limit` rows after `cursor` (from the previous page), soonest due first."""
    after = decode_cursor(cursor) if cursor else None
    with session_scope() as session:
        rows = worklist(
            session=session,
            statuses=statuses,
            category=category,
            responsible=responsible,
            overdue=overdue,
            documents_missing_days=documents_missing_days,
            now=utcnow(),
            limit=limit + 1,  # one more tells whether another page follows
            after=after,
        )
    rows, more = rows[:limit], len(rows) > limit
    return WorklistPage(rows, encode_cursor(rows[-1].position()) if more else None)


def encode_cursor(position: WorklistPosition) -> str:
    due = position.due_at.isoformat() if position.due_at else None
    plain = json.dumps([due, position.created_at.isoformat(), position.task_id.hex])
    return base64.urlsafe_b64encode(plain.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> WorklistPosition:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        due, created, task_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        return WorklistPosition(
            datetime.fromisoformat(due) if due is not None else None,
            datetime.fromisoformat(created),
            uuid.UUID(task_id),
        )
    except (ValueError, TypeError, UnicodeEncodeError, binascii.Error):
        raise InvalidCursorError(
            "cursor: not one this worklist gave; start again without it"
        ) from None


def finish(
    *, task_ids: list[str], outcome: Outcome, by: str, note: str | None, via: str | None = None
) -> list[tuple[Task, str]]:
    """Mark tasks done or skipped by user `by`, all or none; `via` (an API token) is kept in
    each history line's note. Returns each task with its label (`1a2b3c4d (send-pod on …)`)."""
    if via:
        note = f"{note.strip()} (via {via})" if note and note.strip() else f"via {via}"
    with session_scope() as session:
        tasks = finish_tasks(
            session=session, task_ids=task_ids, outcome=outcome, by=by, note=note, now=utcnow()
        )
        labels = describe_tasks(session=session, tasks=tasks)
    return [(task, labels[task.id]) for task in tasks]


def recalculate(*, ref: EntityRef, by: str) -> list[str]:
    """Re-apply the current configuration to one entity; what changed, line by line."""
    with session_scope() as session:
        return recalculate_entity(session=session, ref=ref, now=utcnow(), by=by)


def explain(*, key: str, ref: EntityRef, probe_smtp: bool) -> Explanation:
    """Why the task `key` on `ref` sent its e-mail or did not; changes nothing."""
    with session_scope() as session:
        return explain_task(session=session, key=key, ref=ref, now=utcnow(), probe_smtp=probe_smtp)


def carrier_midnight(day: date) -> datetime:
    """The start of `day` on the carrier's calendar (`HAULFLOW_TIMEZONE`)."""
    return datetime.combine(day, time(), tzinfo=ZoneInfo(get_settings().timezone))


def hand_run(
    *,
    key: str,
    refs: list[EntityRef],
    created_before: datetime | None,
    dry_run: bool,
    by: str,
    on_page: Callable[[RunPage], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    at_most: int | None = None,
    via: str | None = None,
    category: Category | None = None,
    flow_run_id: uuid.UUID | None = None,
) -> RunResult:
    """Send (or with `dry_run`, preview) the task `key` by hand, page by page; `at_most`
    refuses a run over more entities before anything is sent; `category` refuses a task of
    another category; `flow_run_id` (a Prefect run's) is recorded on every step. An entity
    named twice (`ORD-1`, `order:ORD-1`) is run once."""
    return run_by_hand(
        key=key,
        refs=list(dict.fromkeys(refs)),
        created_before=created_before,
        dry_run=dry_run,
        by=by,
        store=open_document_store(get_settings()),
        on_page=on_page,
        should_stop=should_stop,
        at_most=at_most,
        via=via,
        category=category,
        flow_run_id=flow_run_id,
    )


def resend(*, task_id: str, by: str, to: str | None, via: str | None = None) -> Resent:
    """Send a done task's e-mails again on purpose, recorded with who asked (and `via`)."""
    with session_scope() as session:
        [task] = find_tasks(session=session, task_ids=[task_id])
    store = open_document_store(get_settings())
    return resend_task(task_id=task.id, store=store, by=by, to=to, via=via)


def archived_email(communication_id: str) -> tuple[Communication, bytes]:
    """A logged e-mail and its archived bytes, exactly as sent, checked against the sha256
    taken when it was sent. `communication_id` is the id or its first 8+ hex digits."""
    digits = parse_id_prefix(communication_id)
    matches: list[Communication] = []
    if digits is not None:
        with session_scope() as session:
            matches = match_id_prefix(session, Communication, digits, limit=2)
    if len(matches) != 1:
        what = "no communication" if not matches else "several communications match"
        raise NotFoundError(
            f"{what} '{communication_id}': give the id (8+ characters) from "
            "`haulflow communications list ENTITY`"
        )
    row = matches[0]
    if not row.archive_key:
        raise NotFoundError(f"communication {row.id} has no archived copy")
    data = open_document_store(get_settings()).get(row.archive_key)
    if hashlib.sha256(data).hexdigest() != row.archive_sha256:
        raise ConflictError(
            f"the archive {row.archive_key} no longer matches the sha256 recorded when it was "
            "sent: it was altered or replaced in the store"
        )
    return row, data
