"""The audit trail in Prefect: one keyed artifact per entity with its current task list.

Prefect's artifact keys allow lowercase letters, digits and dashes only, so `order:ORD-1001`
becomes `order-ord-1001`; each new version of a key keeps the previous ones in the UI's
history. The communication log in the database stays the durable record: Prefect vacuums.
"""

from __future__ import annotations

import re
import time

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from core.errors import HaulflowError
from core.moments import human_moment
from services.entities import entity_page, parse_entity_ref

_NOT_KEY = re.compile(r"[^a-z0-9]+")
# A run touching more entities than this publishes the first ones only (each is a request).
MAX_ENTITY_ARTIFACTS = 200


def artifact_key(entity: str) -> str:
    """`order:ORD 1001/A` → `order-ord-1001-a`."""
    return _NOT_KEY.sub("-", entity.lower()).strip("-")


@task(name="publish-entity-artifacts", cache_policy=NO_CACHE)
def publish_entity_artifacts(entities: list[str], *, seconds: float | None = None) -> int:
    """Write each entity's current task list as its keyed artifact; return how many entities
    were handled (one that no longer exists is skipped with a warning).

    With `seconds`, stop once that long has passed (after one entity at least): the caller
    publishes the rest later, in order.
    """
    deadline = None if seconds is None else time.monotonic() + seconds
    published = 0
    for entity in list(dict.fromkeys(entities))[:MAX_ENTITY_ARTIFACTS]:
        if published and deadline is not None and time.monotonic() >= deadline:
            break
        published += 1
        try:
            page = entity_page(parse_entity_ref(entity))
        except HaulflowError as error:  # deleted meanwhile: no page, the others still
            get_run_logger().warning("no task page for %s: %s", entity, error)
            continue
        rows = [
            {
                "task": f"{view.key} ({view.short_id})",
                "status": view.status,
                "completed": f"{human_moment(view.completed_at)} by {view.completed_by}"
                if view.completed_at
                else "-",
                "e-mails": "; ".join(
                    f"{human_moment(e.sent_at)} to {', '.join(e.recipients)}" for e in view.emails
                )
                or "-",
                "last error": view.last_error or "-",
            }
            for view in page.tasks
        ]
        create_table_artifact(
            key=artifact_key(entity),
            table=rows or [{"task": "-", "status": "no task"}],
            description=f"Tasks of {entity} ({page.entity.status}), as of this run.",
        )
    return published
