"""Prefect steps of the sweep: due tasks, abandoned claims, documents the database missed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from sqlmodel import col, select

from core.database import get_engine, session_scope
from core.events import DROP_REFUSED
from core.settings import get_settings
from delivery.claims import release_stale_claims
from delivery.reconciliation import reconcile_documents
from delivery.send_steps import entity_label
from ingestion.drop_intake import take_in_waiting
from lifecycle.generation import generate_tasks, pending_entity_ids
from lifecycle.rescheduling import promote_due_tasks
from models import Category, Task, TaskStatus
from models.heartbeats import alive, beat, stop_beating
from storage.factory import open_document_store
from tasks.mail import automation_name, run_id

SWEEP = "sweep"
# A sweep beats once, at its start; one longer than this (a reconciliation of many thousand
# keys on a slow store) may see the next one start beside it, which only repeats work.
SWEEP_STALE_SECONDS = 300


@task(name="promote-due-tasks", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def promote_due(batch_size: int) -> int:
    """Make every scheduled task whose moment has passed due, a batch per transaction."""
    promoted = 0
    while True:
        with session_scope() as session:
            count = promote_due_tasks(
                session=session, now=datetime.now(UTC), limit=batch_size, by=automation_name()
            )
        promoted += count
        if count < batch_size:
            return promoted


@task(name="release-stale-claims", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def release_stale() -> dict[str, Any]:
    """Settle tasks a crashed run left `sending`: resend or hold, per definition.

    Returns how many were settled and, as problems, the ones held for a person.
    """
    with session_scope() as session:
        released = release_stale_claims(
            session=session, now=datetime.now(UTC), by=automation_name()
        )
        held = session.exec(
            select(Task).where(col(Task.id).in_(released), Task.status == TaskStatus.OPEN.value)
        ).all()
        problems = [
            {
                "task": str(task.id),
                "task key": task.definition_key,
                "entity": entity_label(session, task),
                "error": "the run sending it stopped: check the mailbox's sent items",
            }
            for task in held
        ]
    return {"released": len(released), "held": problems}


@task(name="reconcile-documents", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def reconcile() -> dict[str, int]:
    """Record documents present in the store without a row (one listing per 1,000 keys)."""
    settings = get_settings()
    with session_scope() as session:
        report = reconcile_documents(
            session=session,
            store=open_document_store(settings),
            now=datetime.now(UTC),
            max_bytes=settings.max_document_bytes,
        )
    return {
        "listed": report.listed,
        "recorded": report.recorded,
        "unrecognized": report.unrecognized_count,
    }


@task(name="take-in-waiting-drops", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def take_in_waiting_drops() -> dict[str, Any]:
    """Record inbox drops whose entity appeared; refuse those whose wait is over."""
    settings = get_settings()
    report = take_in_waiting(
        store=open_document_store(settings),
        settings=settings,
        engine=get_engine(),
        now=datetime.now(UTC),
    )
    logger = get_run_logger()
    for outcome in report.refused:
        logger.warning("inbox drop %s refused: %s", outcome.key, outcome.message)
        emit_event(
            DROP_REFUSED,
            resource={
                "prefect.resource.id": f"haulflow.inbox.{outcome.drop_id}",
                "prefect.resource.name": outcome.key,
            },
            payload={"key": outcome.key, "reason": outcome.message},
        )
    return {
        "recorded": len(report.recorded),
        "refused": len(report.refused),
        "waiting": report.still_waiting + report.retried,
    }


@contextmanager
def sweep_lease() -> Iterator[bool]:
    """Hold the sweep's lease while the block runs; yields False when another sweep holds it.

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
    row = f"{SWEEP}:{run_id() or uuid.uuid4()}"
    beat(engine=engine, service=SWEEP, now=now, row_id=row)
    try:
        yield True
    finally:
        stop_beating(engine=engine, service=SWEEP, row_id=row)


@task(name="generate-pending-tasks", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def generate_missing(batch_size: int) -> int:
    """Generate the tasks of entities still without them (an import whose generation failed)."""
    created = 0
    for category in Category:
        with session_scope() as session:
            ids = pending_entity_ids(session=session, category=category, limit=batch_size)
            if ids:
                report = generate_tasks(
                    session=session,
                    category=category,
                    entity_ids=ids,
                    now=datetime.now(UTC),
                    by=automation_name(),
                )
                created += report.created
    return created
