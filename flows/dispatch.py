"""Send every ready automatic email task, in batches, until none is left."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact

from tasks.mail import claim_batch, open_gates, send_batch


@flow(name="dispatch", flow_run_name="dispatch {reason}")
async def dispatch(reason: str = "sweep", batch_size: int = 200) -> dict[str, int]:
    """Open document gates, then drain ready email tasks in batches until none is left."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    # Tasks postponed during this run (a temporary failure) wait for a later run.
    started = datetime.now(UTC)
    opened = open_gates()
    sent: list[dict[str, Any]] = []
    totals = {"opened": opened, "batches": 0, "completed": 0, "retrying": 0, "failed": 0}
    while task_ids := claim_batch(batch_size, started):
        result = send_batch(task_ids)
        sent += result["sent"]
        totals["batches"] += 1
        totals["completed"] += result["completed"]
        totals["retrying"] += len(result["retrying"])
        totals["failed"] += len(result["failed"]) + len(result["uncertain"])
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
