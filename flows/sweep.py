"""The backstop: whatever an event missed is found here, so a lost wake-up only delays."""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.dispatch import dispatch
from tasks.upkeep import promote_due, reconcile, release_stale


@flow(name="sweep", flow_run_name="sweep")
async def sweep(reconcile_store: bool = True, batch_size: int = 200) -> dict[str, int]:
    """Make due tasks due, settle abandoned sends, record missed documents, then dispatch."""
    promoted = promote_due(500)
    released = release_stale()
    recorded = reconcile()["recorded"] if reconcile_store else 0
    sent = await dispatch(reason="sweep", batch_size=batch_size)
    get_run_logger().info(
        "%d tasks made due, %d abandoned sends settled, %d documents recorded, %d e-mails sent",
        promoted,
        released,
        recorded,
        sent["sent"],
    )
    return {"promoted": promoted, "released": released, "recorded": recorded, **sent}
