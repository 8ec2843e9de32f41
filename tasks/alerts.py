"""Read back the `prefect.automation.action.failed` events an alert reports."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.moments import human_moment

if TYPE_CHECKING:
    from prefect.events.filters import EventFilter
    from prefect.events.schemas.events import ReceivedEvent

FAILED_ACTION = "prefect.automation.action.failed"


async def read_failed_actions(since: datetime) -> list[dict[str, Any]]:
    """The failed automation actions since `since`: when, which automation, why."""
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

    wanted = EventFilter(
        event=EventNameFilter(name=[FAILED_ACTION]),
        occurred=EventOccurredFilter(since=since),
    )
    return [_described(event) for event in await _read(wanted)]


async def wait_for_failed_action(
    event_id: uuid.UUID, *, timeout: float, poll: float = 1.0
) -> dict[str, Any] | None:
    """The failed action of event `event_id`, once the server has stored it; None after
    `timeout` seconds.

    A trigger starts its run on the event as it streams by; the server stores events in
    batches (every 5 s by default, later when busy), so the run may ask before it is stored.
    """
    from prefect.events.filters import EventFilter, EventIDFilter, EventNameFilter

    wanted = EventFilter(
        event=EventNameFilter(name=[FAILED_ACTION]), id=EventIDFilter(id=[event_id])
    )
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        events = await _read(wanted)
        if events:
            return _described(events[0])
        if asyncio.get_running_loop().time() >= deadline:
            return None
        await asyncio.sleep(poll)


async def _read(wanted: EventFilter) -> list[ReceivedEvent]:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        page = await client.read_events(filter=wanted, limit=50)
    return list(page.events)


def _described(event: ReceivedEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "occurred": human_moment(event.occurred, seconds=True),
        "automation": event.resource.get("prefect.resource.name", event.resource.id),
        "reason": str(event.payload.get("reason", "unknown")),
    }
