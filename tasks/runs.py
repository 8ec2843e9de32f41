"""Prefect steps of a hand run: the run itself, and tags that name its entities."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from core.errors import HaulflowError
from core.settings import get_settings
from delivery.runs import run_by_hand
from lifecycle.entities import parse_entity_ref
from models import Category
from storage.factory import open_document_store
from tasks.mail import alert_failure, summarize


async def tag_run(tags: list[str]) -> None:
    """Add tags to the current flow run (a run-deployment action cannot set them)."""
    from prefect.client.orchestration import get_client

    current = flow_run.get_id()
    if current is None:
        return
    async with get_client() as client:
        run = await client.read_flow_run(uuid.UUID(current))
        await client.update_flow_run(run.id, tags=sorted({*run.tags, *tags}))


@task(name="run-by-hand", cache_policy=NO_CACHE)
def run_task_by_hand(
    task_key: str,
    category: str,
    refs: list[str],
    created_before: dt.date | None,
    dry_run: bool,
    requested_by: str,
) -> dict[str, Any]:
    """Create or requeue the task on each entity and send it, as `haulflow tasks run` does."""
    parsed = [parse_entity_ref(ref) for ref in refs]
    wrong = [str(ref) for ref in parsed if ref.category is not Category(category)]
    if wrong:
        raise HaulflowError(f"this flow runs {category} tasks; not for {', '.join(wrong)}")
    before = None
    if created_before is not None:
        zone = ZoneInfo(get_settings().timezone)
        before = dt.datetime.combine(created_before, dt.time(), tzinfo=zone)
    result = run_by_hand(
        key=task_key,
        refs=parsed,
        created_before=before,
        dry_run=dry_run,
        by=requested_by,
        store=open_document_store(get_settings()),
    )
    for problem in result.report.failed:
        alert_failure(problem)
    sent = summarize(result.report)
    rows = [
        {
            "entity": item.entity,
            "outcome": item.outcome,
            "task": str(item.task_id) if item.task_id else "-",
            "would send to": "; ".join(", ".join(p.recipients) for p in item.previews) or "-",
        }
        for item in result.items
    ]
    counts = {
        "entities": len(result.items),
        "queued": sum(item.queued for item in result.items),
        "sent": len(sent["sent"]),
        "failed": len(sent["failed"]),
    }
    summary = (
        f"{counts['entities']} entities, {counts['queued']} queued, {counts['sent']} e-mails sent"
        f", {counts['failed']} failed" + (" (dry run)" if dry_run else "")
    )
    return {"rows": rows, "counts": counts, "summary": summary}
