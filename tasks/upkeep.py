"""Prefect steps of the sweep: due tasks, abandoned claims, documents the database missed.

The use cases live in `services.upkeep` and `services.generation`; these steps call them,
log and emit what a person should see, and return plain data.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from core.events import DROP_REFUSED
from models import Category
from services import generation, upkeep
from tasks.mail import automation_name, run_id


@task(name="promote-due-tasks", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def promote_due(batch_size: int) -> int:
    """Make every scheduled task whose moment has passed due, a batch per transaction."""
    return upkeep.promote_due(batch_size=batch_size, by=automation_name())


@task(name="release-stale-claims", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def release_stale() -> dict[str, Any]:
    """Settle tasks a crashed run left `sending`: resend or hold, per definition.

    Returns how many were settled and, as problems, the ones held for a person.
    """
    released, held = upkeep.release_stale(by=automation_name())
    problems = [
        {
            "task": row.task_id,
            "task key": row.key,
            "entity": row.entity,
            "error": "the run sending it stopped: check the mailbox's sent items",
        }
        for row in held
    ]
    return {"released": released, "held": problems}


@task(name="reconcile-documents", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def reconcile() -> dict[str, int]:
    """Record documents present in the store without a row (one listing per 1,000 keys)."""
    report = upkeep.reconcile()
    return {
        "listed": report.listed,
        "recorded": report.recorded,
        "unrecognized": report.unrecognized_count,
    }


@task(name="take-in-waiting-drops", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def take_in_waiting_drops() -> dict[str, Any]:
    """Record inbox drops whose entity appeared; refuse those whose wait is over."""
    report = upkeep.take_in_waiting_drops()
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


def sweep_lease() -> AbstractContextManager[bool]:
    """The sweep's lease, held by this run (see `services.upkeep.sweep_lease`)."""
    return upkeep.sweep_lease(str(run_id() or uuid.uuid4()))


@task(name="generate-pending-tasks", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def generate_missing(batch_size: int) -> int:
    """Generate the tasks of entities still without them (an import whose generation failed)."""
    return sum(
        generation.generate_pending(category, limit=batch_size, by=automation_name())[1].created
        for category in Category
    )
