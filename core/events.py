"""Prefect events: "entities changed" (a wake-up of generation) and refused inbox drops.

E-mail dispatch is not woken by events: the commit that readies a task wakes the
dispatcher through the database (`core.wakeups`). "Entities changed" only backs up the
generation an import already ran in process (the generate deployments drain whatever is
still pending), so its id comes from a 10-second time bucket: Prefect's triggers service
drops an id it has seen, which turns a burst of imports into one wake-up, and a dropped one
costs nothing (the sweep generates what is pending too).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from core.categories import Category
from core.prefect_runtime import (
    flush_prefect_workers,
    prefect_api_url,
    prefect_connection,
    prefect_server_reachable,
)

ENTITIES_CHANGED = "haulflow.entities.changed"
ENTITIES_RESOURCE = {"prefect.resource.id": "haulflow.entities"}
DROP_REFUSED = "haulflow.inbox.drop.refused"
BUCKET_SECONDS = 10
# Fixed forever: changing it would give a bucket two ids.
EVENT_NAMESPACE = uuid.UUID("6f1c2a0e-3b7d-5c5e-9a41-2d8f0b6e7c13")

IdsByCategory = Mapping[Category, Sequence[uuid.UUID]]


def wake_up_event_id(at: datetime, event: str = ENTITIES_CHANGED) -> uuid.UUID:
    """The id shared by every `event` of the 10-second bucket holding `at`."""
    bucket = int(at.timestamp()) // BUCKET_SECONDS
    return uuid.uuid5(EVENT_NAMESPACE, f"{event}:{bucket}")


def entities_changed_payload(
    created: IdsByCategory, changed: IdsByCategory, *, reason: str
) -> dict[str, Any]:
    """Counts per category; every key is present, even at 0.

    A trigger template reading a missing key makes the automation fail silently (measured on
    Prefect 3), so
    `created.order`, `changed.invoice`, `created_total`... always exist.
    """
    created_counts = {c.value: len(created.get(c, ())) for c in Category}
    changed_counts = {c.value: len(changed.get(c, ())) for c in Category}
    return {
        "reason": reason,
        "created": created_counts,
        "changed": changed_counts,
        "created_total": sum(created_counts.values()),
        "changed_total": sum(changed_counts.values()),
    }


def emit_entities_changed(
    created: IdsByCategory,
    changed: IdsByCategory,
    *,
    reason: str = "import",
    now: datetime | None = None,
    api_url: str | None = None,
) -> uuid.UUID | None:
    """Emit one `haulflow.entities.changed` wake-up and flush it; return its id.

    Nothing is emitted (None, no error) when nothing was created or changed, or when no
    Prefect server answers: at `api_url`, else at the configured one.
    """
    payload = entities_changed_payload(created, changed, reason=reason)
    if not payload["created_total"] and not payload["changed_total"]:
        return None
    return emit_wake_up(ENTITIES_CHANGED, ENTITIES_RESOURCE, payload, now=now, api_url=api_url)


def emit_drop_refused(
    *, key: str, reason: str, drop_id: uuid.UUID | None, api_url: str | None = None
) -> uuid.UUID | None:
    """Announce an inbox drop that will not be recorded (an automation may alert on it).

    Not a wake-up: each refusal is its own event (a fresh id), so none is dropped as a repeat.
    """
    url = api_url or prefect_api_url()
    if url is None or not prefect_server_reachable(api_url=url):
        return None
    with prefect_connection(url):
        from prefect.events import emit_event

        flush_prefect_workers()
        emitted = emit_event(
            DROP_REFUSED,
            resource={
                "prefect.resource.id": f"haulflow.inbox.{drop_id or uuid.uuid4()}",
                "prefect.resource.name": key,
            },
            payload={"key": key, "reason": reason},
        )
    return emitted.id if emitted is not None else None


def emit_wake_up(
    event: str,
    resource: Mapping[str, str],
    payload: dict[str, Any],
    *,
    now: datetime | None = None,
    api_url: str | None = None,
) -> uuid.UUID | None:
    """Emit `event` with its bucket's id and flush it; None when no Prefect server answers."""
    url = api_url or prefect_api_url()
    if url is None or not prefect_server_reachable(api_url=url):
        return None
    occurred = now or datetime.now(UTC)
    event_id = wake_up_event_id(occurred, event)
    with prefect_connection(url):
        from prefect.events import emit_event

        # An events worker started during a flow run tags every later event as related to
        # that run; a fresh worker, started here, does not.
        flush_prefect_workers()
        emitted = emit_event(
            event, resource=dict(resource), occurred=occurred, payload=payload, id=event_id
        )
    return emitted.id if emitted is not None else None
