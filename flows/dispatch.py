"""Send every ready automatic email task, in batches, until none is left."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact

from tasks.audit import publish_entity_artifacts
from tasks.mail import claim_batch, open_gates, send_batch


@flow(name="dispatch", flow_run_name="dispatch {reason}")
async def dispatch(
    reason: str = "sweep", batch_size: int = 200, linger_seconds: float = 0.0
) -> dict[str, int]:
    """Open document gates, then drain ready email tasks in batches until none is left.

    `linger_seconds`: after a drain that sent or postponed something, wait that long and
    drain once more. Wake-up events share one id per 10-second bucket and a repeated id is
    dropped, so an upload late in the bucket that woke this run has no event of its own:
    lingering past the bucket's end sends it now rather than at the next sweep.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    touched: list[dict[str, Any]] = []
    totals = {"opened": 0, "batches": 0, "completed": 0, "retrying": 0, "failed": 0}
    _drain(batch_size, touched, totals)
    # Only a run that found work lingers: runs queued behind it by later events of a burst
    # then find nothing and end at once instead of each holding the slot for the linger.
    if linger_seconds > 0 and touched:
        await asyncio.sleep(linger_seconds)
        _drain(batch_size, touched, totals)
    totals["sent"] = sum(row["outcome"] == "sent" for row in touched)
    publish_entity_artifacts([str(row["entity"]) for row in touched])
    get_run_logger().info(
        "%d e-mails sent, %d tasks done, %d to retry, %d failed (%s)",
        totals["sent"],
        totals["completed"],
        totals["retrying"],
        totals["failed"],
        reason,
    )
    await acreate_table_artifact(
        key="dispatch-touched",
        table=touched or [{"outcome": "nothing to send", "entity": "-", "task": "-"}],
        description=f"E-mails sent and tasks postponed or failed by this run ({reason}).",
    )
    return totals


def _drain(batch_size: int, touched: list[dict[str, Any]], totals: dict[str, int]) -> None:
    # Tasks postponed during this drain (a temporary failure) wait for a later one.
    started = datetime.now(UTC)
    totals["opened"] += open_gates()
    while task_ids := claim_batch(batch_size, started):
        result = send_batch(task_ids)
        touched += [{"outcome": "sent", **row} for row in result["sent"]]
        for outcome in ("retrying", "failed", "uncertain"):
            touched += [{"outcome": outcome, **row} for row in result[outcome]]
        totals["batches"] += 1
        totals["completed"] += result["completed"]
        totals["retrying"] += len(result["retrying"])
        totals["failed"] += len(result["failed"]) + len(result["uncertain"])
