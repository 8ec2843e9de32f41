"""Send every ready automatic email task, in batches, until none is left."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact

from tasks.mail import claim_batch, open_gates, send_batch


@flow(name="dispatch", flow_run_name="dispatch {reason}")
async def dispatch(
    reason: str = "sweep", batch_size: int = 200, linger_seconds: float = 0.0
) -> dict[str, int]:
    """Open document gates, then drain ready email tasks in batches until none is left.

    `linger_seconds`: after draining, wait that long and drain once more. Wake-up events
    share one id per 10-second bucket and a repeated id is dropped, so an upload late in
    the bucket that woke this run has no event of its own: lingering past the bucket's end
    sends it now rather than at the next sweep.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    sent: list[dict[str, Any]] = []
    totals = {"opened": 0, "batches": 0, "completed": 0, "retrying": 0, "failed": 0}
    _drain(batch_size, sent, totals)
    if linger_seconds > 0:
        await asyncio.sleep(linger_seconds)
        _drain(batch_size, sent, totals)
    totals["sent"] = len(sent)
    get_run_logger().info(
        "%d e-mails sent, %d tasks done, %d to retry, %d failed (%s)",
        totals["sent"],
        totals["completed"],
        totals["retrying"],
        totals["failed"],
        reason,
    )
    await acreate_table_artifact(
        key="dispatch-sent",
        table=sent or [{"task": "-", "entity": "-", "to": "nothing was sent"}],
        description=f"E-mails sent by this run ({reason}).",
    )
    return totals


def _drain(batch_size: int, sent: list[dict[str, Any]], totals: dict[str, int]) -> None:
    # Tasks postponed during this drain (a temporary failure) wait for a later one.
    started = datetime.now(UTC)
    totals["opened"] += open_gates()
    while task_ids := claim_batch(batch_size, started):
        result = send_batch(task_ids)
        sent += result["sent"]
        totals["batches"] += 1
        totals["completed"] += result["completed"]
        totals["retrying"] += len(result["retrying"])
        totals["failed"] += len(result["failed"]) + len(result["uncertain"])
