"""The backstop: whatever no dispatcher sent is found here, so nothing waits past a sweep."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.states import Completed

from flows.dispatch import dispatch
from tasks.dispatching import ensure_dispatchers
from tasks.forms import refresh_run_forms
from tasks.outcomes import WorkLeftBehind, carried, final_state, warn_problems
from tasks.upkeep import (
    generate_missing,
    promote_due,
    reconcile,
    release_stale,
    sweep_lease,
    take_in_waiting_drops,
)


@flow(name="sweep", flow_run_name="sweep")
async def sweep(reconcile_store: bool = True, batch_size: int = 200) -> State[dict[str, int]]:
    """Start missing dispatchers, make due tasks due, settle abandoned sends, generate what an
    import left pending, take in waiting inbox drops, record missed documents, refresh the
    hand-run forms, then drain what is ready.

    Ends like its drain (`Completed`, `Postponed`, `Held` or `Failed`); a sweep that starts
    while another runs ends at once, `Completed`, saying so.

    Args:
        reconcile_store: Also record documents found in the store without a row.
        batch_size: Tasks the drain claims and sends per batch.
    """
    with sweep_lease() as held:
        if not held:
            message = "another sweep is running: this one did nothing"
            get_run_logger().info("%s", message)
            return Completed(message=message, data={"skipped": 1})
        return await _sweep(reconcile_store, batch_size)


async def _sweep(reconcile_store: bool, batch_size: int) -> State[dict[str, int]]:
    started = ensure_dispatchers()
    promoted = promote_due(500)
    released = release_stale()
    warn_problems({"held": released["held"]})
    generated = generate_missing(500)
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
        f"{started} dispatchers started, {promoted} tasks made due, "
        f"{released['released']} abandoned sends settled, {generated} tasks generated, "
        f"{drops['recorded']} waiting inbox drops recorded ({drops['waiting']} still waiting, "
        f"{drops['refused']} refused), {recorded} documents recorded, "
        f"{sent['sent']} e-mails sent"
    )
    get_run_logger().info("%s", summary)
    totals = {
        "dispatchers_started": started,
        "promoted": promoted,
        "released": released["released"],
        "generated": generated,
        "drops_recorded": drops["recorded"],
        "recorded": recorded,
        **sent,
    }
    own = final_state({"held": released["held"]}, summary=summary, result=totals)
    # The dispatch's WARNING lines name its tasks; the sweep carries its verdict.
    return carried(own, summary=summary, result=totals, inner=dispatched)
