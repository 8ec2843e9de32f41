"""Prefect steps of task generation: ids in, counts out, one transaction per batch.

The use cases live in `services.generation`; these steps call them and turn the report into
plain data for the flow. Generation is idempotent (enforced by the
database), so a retry after a transient database error is safe.
"""

from __future__ import annotations

import uuid

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run, task_run

from models import Category
from services import generation
from services.generation import GenerationReport

# Keys of the counts every step returns; `requested` is how many ids the batch held.
COUNT_KEYS = ("requested", "entities", "created", "already_present", "not_matching")


def _batch_run_name() -> str:
    parameters = task_run.get_parameters()
    return f"generate {parameters['category']} tasks x{len(parameters['entity_ids'])}"


def _pending_run_name() -> str:
    parameters = task_run.get_parameters()
    return f"generate pending {parameters['category']} tasks (up to {parameters['limit']})"


def _generated_by() -> str:
    """Who the task history names: the flow run, so the Prefect UI leads to it."""
    run_id = flow_run.get_id()
    return f"flow-run:{run_id}" if run_id else "generate-tasks"


def _counts(requested: int, report: GenerationReport) -> dict[str, int]:
    return {
        "requested": requested,
        "entities": report.entities,
        "created": report.created,
        "already_present": report.already_present,
        "not_matching": report.not_matching,
    }


# Writes: never cached (NO_CACHE), retried because generation is idempotent.
@task(
    name="generate-batch",
    task_run_name=_batch_run_name,
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=2,
)
def generate_batch(category: str, entity_ids: list[str]) -> dict[str, int]:
    """Generate the tasks of these entities of one category."""
    ids = [uuid.UUID(entity_id) for entity_id in entity_ids]
    report = generation.generate(Category(category), ids, by=_generated_by())
    return _counts(len(entity_ids), report)


@task(
    name="generate-pending",
    task_run_name=_pending_run_name,
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=2,
)
def generate_pending(category: str, limit: int) -> dict[str, int]:
    """Generate the tasks of up to `limit` entities of one category never generated yet."""
    pending, report = generation.generate_pending(
        Category(category), limit=limit, by=_generated_by()
    )
    return _counts(pending, report)
