"""The sweep's use cases: due tasks, abandoned claims, documents the database missed, drops
whose entity appeared, and the lease that keeps two sweeps from running at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import col, select

from core.database import get_engine, session_scope
from core.settings import get_settings
from delivery.claims import release_stale_claims
from delivery.reconciliation import ReconciliationReport as ReconciliationReport
from delivery.reconciliation import reconcile_documents
from delivery.send_steps import entity_label
from ingestion.drop_intake import WaitingReport as WaitingReport
from ingestion.drop_intake import take_in_waiting
from lifecycle.rescheduling import promote_due_tasks
from models import Task, TaskStatus
from models.heartbeats import alive, beat, stop_beating
from storage.factory import open_document_store

SWEEP = "sweep"
# A sweep beats once, at its start; one longer than this (a reconciliation of many thousand
# keys on a slow store) may see the next one start beside it, which only repeats work.
SWEEP_STALE_SECONDS = 300


@dataclass(frozen=True)
class Held:
    """A task a stopped run left `sending`, now held for a person to check."""

    task_id: str
    key: str
    entity: str


def promote_due(*, batch_size: int, by: str) -> int:
    """Make every scheduled task whose moment has passed due, a batch per transaction."""
    promoted = 0
    while True:
        with session_scope() as session:
            count = promote_due_tasks(
                session=session, now=datetime.now(UTC), limit=batch_size, by=by
            )
        promoted += count
        if count < batch_size:
            return promoted


def release_stale(*, by: str) -> tuple[int, list[Held]]:
    """Settle tasks a crashed run left `sending`: resend or hold, per definition. How many
    were settled, and the ones held for a person."""
    with session_scope() as session:
        released = release_stale_claims(session=session, now=datetime.now(UTC), by=by)
        held = session.exec(
            select(Task).where(col(Task.id).in_(released), Task.status == TaskStatus.OPEN.value)
        ).all()
        return len(released), [
            Held(str(task.id), task.definition_key, entity_label(session, task)) for task in held
        ]


def reconcile() -> ReconciliationReport:
    """Record documents present in the store without a row (one listing per 1,000 keys)."""
    settings = get_settings()
    with session_scope() as session:
        return reconcile_documents(
            session=session,
            store=open_document_store(settings),
            now=datetime.now(UTC),
            max_bytes=settings.max_document_bytes,
        )


def take_in_waiting_drops() -> WaitingReport:
    """Record inbox drops whose entity appeared; refuse those whose wait is over."""
    settings = get_settings()
    return take_in_waiting(
        store=open_document_store(settings),
        settings=settings,
        engine=get_engine(),
        now=datetime.now(UTC),
    )


@contextmanager
def sweep_lease(holder: str) -> Iterator[bool]:
    """Hold the sweep's lease as `holder` while the block runs; yields False when another
    sweep holds it.

    A lease rather than a Prefect concurrency limit: a sweep killed with its process leaves
    a row that goes stale after `SWEEP_STALE_SECONDS`, not a slot held for minutes.
    """
    engine = get_engine()
    now = datetime.now(UTC)
    with session_scope() as session:
        others = alive(session=session, service=SWEEP, now=now, stale_seconds=SWEEP_STALE_SECONDS)
    if others:
        yield False
        return
    row = f"{SWEEP}:{holder}"
    beat(engine=engine, service=SWEEP, now=now, row_id=row)
    try:
        yield True
    finally:
        stop_beating(engine=engine, service=SWEEP, row_id=row)
