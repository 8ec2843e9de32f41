"""Prefect steps of a hand run: the run itself, and tags that name its entities."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from core.errors import (
    ConflictError,
    HaulflowError,
    InvalidEntityRefError,
    NotFoundError,
    TooManyForRequestError,
)
from core.settings import get_settings
from core.text import counted
from models import Category
from services.entities import parse_entity_ref
from services.tasks import RunPage, RunResult, hand_run
from tasks.mail import alert_failure, run_id, summarize

# The tag that carries the API token a run was started through (`via:api:tms`): the run
# records it beside the user, as a hand run within an API request does.
VIA_TAG_PREFIX = "via:"


def via_from_tags(tags: list[str]) -> str | None:
    """The API token a run was started through, from its tags (None from the UI's form)."""
    vias = [tag.removeprefix(VIA_TAG_PREFIX) for tag in tags if tag.startswith(VIA_TAG_PREFIX)]
    return vias[0] if vias else None


async def tag_run(tags: list[str]) -> None:
    """Add tags to the current flow run (a run-deployment action cannot set them)."""
    from prefect.client.orchestration import get_client

    current = flow_run.get_id()
    if current is None:
        return
    async with get_client() as client:
        run = await client.read_flow_run(uuid.UUID(current))
        await client.update_flow_run(run.id, tags=sorted({*run.tags, *tags}))


# What the person who started the run gave wrong: fixed by starting it again, not in the stack.
_INPUT_ERRORS = (ConflictError, InvalidEntityRefError, NotFoundError, TooManyForRequestError)


@task(name="run-by-hand", cache_policy=NO_CACHE)
def run_task_by_hand(
    task_key: str,
    category: str,
    refs: list[str],
    created_before: dt.date | None,
    dry_run: bool,
    requested_by: str,
    via: str | None = None,
) -> dict[str, Any]:
    """Create or requeue the task on each entity and send it, as `haulflow tasks run` does;
    `via` (an API token) is recorded beside the user.

    A request haulflow refuses (an unknown reference or user, a task of another category)
    comes back as `{"refused": reason, "input": True}`: the flow ends `Refused` (a failed
    state) with that sentence, the way the CLI prints it, not with a traceback. `input` is
    False when the stack, not the request, is at fault (no configuration, store unreachable).
    """
    before = None
    if created_before is not None:
        zone = ZoneInfo(get_settings().timezone)
        before = dt.datetime.combine(created_before, dt.time(), tzinfo=zone)
    progress = _Progress(task_key)
    try:
        result = hand_run(
            key=task_key,
            refs=[parse_entity_ref(ref) for ref in refs],
            created_before=before,
            dry_run=dry_run,
            by=requested_by,
            category=Category(category),
            flow_run_id=run_id(),
            on_page=progress.page,
            via=via,
        )
    except HaulflowError as error:
        return {"refused": str(error), "input": isinstance(error, _INPUT_ERRORS)}
    return describe_run(result, dry_run=dry_run)


class _Progress:
    """A run's progress in Prefect: a progress artifact and an INFO line per page."""

    def __init__(self, task_key: str) -> None:
        self.task_key = task_key
        self.artifact: uuid.UUID | None = None

    def page(self, page: RunPage) -> None:
        for problem in page.report.failed:
            alert_failure(problem)
        done, total = page.so_far.counts["entities"], page.so_far.total
        percent = 100.0 * done / total if total else 100.0
        if self.artifact is None:
            # Called from a sync task: the synchronous variant, which returns the id.
            created = create_progress_artifact(
                percent, description=f"Entities {self.task_key} went through, of {total:,}."
            )
            assert isinstance(created, uuid.UUID)
            self.artifact = created
        else:
            update_progress_artifact(self.artifact, percent)
        get_run_logger().info(
            "%s of %s done, %s sent",
            f"{done:,}",
            counted(total, "entity", "entities"),
            counted(page.so_far.counts["sent"], "e-mail"),
        )


# A dry run's findings in its log, one line an entity, up to this many (then the artifact).
DRY_RUN_LOG_LINES = 50


def log_dry_run(rows: list[dict[str, Any]]) -> int:
    """Log what a dry run found, as the CLI prints it: who would get what, and at WARNING
    each entity whose e-mail would fail and why. Returns how many would fail."""
    logger = get_run_logger()
    failing = 0
    for number, row in enumerate(rows):
        fails = str(row["outcome"]).startswith("would fail")
        failing += fails
        if number >= DRY_RUN_LOG_LINES:
            continue
        line = f"{row['entity']}: {row['outcome']}"
        if row["would send to"] != "-":
            line += f" to {row['would send to']}: {row['subject']}"
        (logger.warning if fails else logger.info)("%s", line)
    if len(rows) > DRY_RUN_LOG_LINES:
        logger.info("and %s more entities: the run's table artifact lists them all",
                    f"{len(rows) - DRY_RUN_LOG_LINES:,}")  # fmt: skip
    return failing


def describe_run(result: RunResult, *, dry_run: bool) -> dict[str, Any]:
    """Per entity what the run did and who got (or would get) which e-mail, with counts."""
    report = summarize(result.report)
    sent_by_task: dict[str, list[dict[str, Any]]] = {}
    for email in report["sent"]:
        sent_by_task.setdefault(email["task"], []).append(email)
    rows = []
    for item in result.items:
        task_id = str(item.task_id) if item.task_id else None
        if dry_run:
            emails = [{"to": ", ".join(p.recipients), "subject": p.subject} for p in item.previews]
        else:
            emails = sent_by_task.get(task_id or "", [])
        rows.append(
            {
                "entity": item.entity,
                "outcome": item.outcome,
                "task": task_id[:8] if task_id else "-",
                "would send to" if dry_run else "sent to": "; ".join(e["to"] for e in emails)
                or "-",
                "subject": "; ".join(e["subject"] for e in emails) or "-",
            }
        )
    counts = {name: result.counts[name] for name in ("entities", "queued", "sent", "failed")}
    summary = (
        f"{counted(counts['entities'], 'entity', 'entities')}, {counts['queued']:,} queued, "
        f"{counted(counts['sent'], 'e-mail')} sent, {counts['failed']:,} failed"
        + (" (dry run)" if dry_run else "")
    )
    return {
        "rows": rows,
        "counts": counts,
        "summary": summary,
        "problems": {kind: report[kind] for kind in ("failed", "uncertain", "retrying")},
        "entities": [item.entity for item in result.items],
        "already_sent": result.counts["already_sent"],
        "recipients": sorted({r for e in report["sent"] for r in e["to"].split(", ")}),
    }
