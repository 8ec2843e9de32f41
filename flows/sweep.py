"""The backstop: whatever an event missed is found here, so a lost wake-up only delays."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State

from flows.dispatch import dispatch
from tasks.forms import refresh_run_forms
from tasks.outcomes import WorkLeftBehind, carried, final_state, warn_problems
from tasks.upkeep import promote_due, reconcile, release_stale, take_in_waiting_drops


@flow(name="sweep", flow_run_name="sweep")
async def sweep(reconcile_store: bool = True, batch_size: int = 200) -> State[dict[str, int]]:
    """Make due tasks due, settle abandoned sends, take in waiting inbox drops, record missed
    documents, refresh the hand-run forms, then dispatch.

    Ends like its dispatch (`Completed`, `Postponed`, `Held` or `Failed`).

    Args:
        reconcile_store: Also record documents found in the store without a row.
        batch_size: Tasks the dispatch claims and sends per batch.
    """
    promoted = promote_due(500)
    released = release_stale()
    warn_problems({"held": released["held"]})
    drops = take_in_waiting_drops()
    recorded = reconcile()["recorded"] if reconcile_store else 0
    refresh_run_forms()
    dispatched = await dispatch(reason="sweep", batch_size=batch_size, return_state=True)
    sent = await dispatched.aresult(raise_on_failure=False)
    if isinstance(sent, WorkLeftBehind):
        sent = sent.result
    if not isinstance(sent, dict):
        # The dispatch crashed (no totals): the sweep fails with its reason.
        raise RuntimeError(f"the dispatch ended {dispatched.name}: {dispatched.message}")
    summary = (
        f"{promoted} tasks made due, {released['released']} abandoned sends settled, "
        f"{drops['recorded']} waiting inbox drops recorded ({drops['waiting']} still waiting, "
        f"{drops['refused']} refused), {recorded} documents recorded, "
        f"{sent['sent']} e-mails sent"
    )
    get_run_logger().info("%s", summary)
    totals = {
        "promoted": promoted,
        "released": released["released"],
        "drops_recorded": drops["recorded"],
        "recorded": recorded,
        **sent,
    }
    own = final_state({"held": released["held"]}, summary=summary, result=totals)
    # The dispatch's WARNING lines name its tasks; the sweep carries its verdict.
    return carried(own, summary=summary, result=totals, inner=dispatched)
