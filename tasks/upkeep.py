"""Prefect steps of the sweep: due tasks, abandoned claims, documents the database missed."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from core.database import session_scope
from core.settings import get_settings
from delivery.claims import release_stale_claims
from delivery.reconciliation import reconcile_documents
from lifecycle.rescheduling import promote_due_tasks
from storage.factory import open_document_store
from tasks.mail import automation_name


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
def release_stale() -> int:
    """Settle tasks a crashed run left `sending`: resend or hold, per definition."""
    with session_scope() as session:
        released = release_stale_claims(
            session=session, now=datetime.now(UTC), by=automation_name()
        )
    return len(released)


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
