"""Read back the `prefect.automation.action.failed` events an alert reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.moments import human_moment


async def read_failed_actions(since: datetime) -> list[dict[str, Any]]:
    """The failed automation actions since `since`: when, which automation, why."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

    wanted = EventFilter(
        event=EventNameFilter(name=["prefect.automation.action.failed"]),
        occurred=EventOccurredFilter(since=since),
    )
    async with get_client() as client:
        page = await client.read_events(filter=wanted, limit=50)
    return [
        {
            "occurred": human_moment(event.occurred, seconds=True),
            "automation": event.resource.get("prefect.resource.name", event.resource.id),
            "reason": str(event.payload.get("reason", "unknown")),
        }
        for event in page.events
    ]
