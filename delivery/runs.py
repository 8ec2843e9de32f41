"""A hand run end to end: prepare it (`manual`), commit, then claim and send what it queued.

`haulflow tasks run` and the `run-task` flow both call `run_by_hand`, so the Prefect UI's
custom run and the CLI are one path.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from core.database import session_scope
from delivery.claims import claim_ready_tasks
from delivery.email_tasks import find_definition
from delivery.manual import RunItem, prepare_run, select_entities
from delivery.sender import DeliveryReport, deliver_tasks
from lifecycle.actions import require_active_user
from lifecycle.entities import EntityRef
from models import Category, utcnow
from storage.base import DocumentStore


@dataclass
class RunResult:
    """A hand run: what it decided per entity, and what sending did."""

    items: list[RunItem]
    report: DeliveryReport


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
) -> RunResult:
    """`haulflow tasks run` and the `run-<category>-task` flows: prepare, commit, then send.

    `category` refuses a definition of another category (each flow runs its own);
    `flow_run_id` is recorded on every claim, history line and communication-log row.
    """
    with session_scope() as session:
        if not dry_run:
            require_active_user(session=session, username=by)
        definition = find_definition(session=session, key=key, category=category)
        entities = select_entities(
            session=session,
            category=Category(definition.category),
            refs=refs,
            created_before=created_before,
        )
        items = prepare_run(
            session=session,
            store=store,
            definition=definition,
            entities=entities,
            by=by,
            now=now(),
            dry_run=dry_run,
            flow_run_id=flow_run_id,
        )
        if dry_run:
            # Composing flushed nothing, but a dry run must leave no trace even so.
            session.rollback()
    report = DeliveryReport()
    queued = [item.task_id for item in items if item.queued and item.task_id is not None]
    for start in range(0, len(queued), batch_size):
        with session_scope() as session:
            claimed = claim_ready_tasks(
                session=session,
                now=now(),
                by=by,
                limit=batch_size,
                task_ids=queued[start : start + batch_size],
                flow_run_id=flow_run_id,
            )
        report.merge(
            deliver_tasks(task_ids=claimed, store=store, by=by, now=now, flow_run_id=flow_run_id)
        )
    return RunResult(items, report)
