"""Send every ready automatic email task, in batches, until none is left."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.client.schemas.objects import State

from tasks.audit import publish_entity_artifacts
from tasks.mail import claim_batch, open_gates, send_batch
from tasks.outcomes import final_state, rename_run, shown, warn_problems


@flow(name="dispatch", flow_run_name="dispatch {reason}")
async def dispatch(
    reason: str = "sweep", batch_size: int = 200, linger_seconds: float = 0.0
) -> State[dict[str, int]]:
    """Open document gates, then send ready e-mail tasks in batches until none is left.

    Ends `Completed` when everything went out, else `Postponed` or `Failed` (see
    `tasks.outcomes`), with a WARNING per task left behind.

    Args:
        reason: Why this run started, shown in its name.
        batch_size: Tasks claimed and sent per batch.
        linger_seconds: After a drain that sent or postponed something, wait that long and
            drain once more. Wake-up events share one id per 10-second bucket and a
            repeated id is dropped, so an upload late in the bucket that woke this run has
            no event of its own: lingering past the bucket's end sends it now rather than at
            the next sweep.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    touched: list[dict[str, Any]] = []
    totals = {"opened": 0, "batches": 0, "completed": 0, "retrying": 0, "failed": 0}
    problems: dict[str, list[dict[str, Any]]] = {"retrying": [], "failed": [], "uncertain": []}
    _drain(batch_size, touched, totals, problems)
    # Only a run that found work lingers: runs queued behind it by later events of a burst
    # then find nothing and end at once instead of each holding the slot for the linger.
    if linger_seconds > 0 and touched:
        await asyncio.sleep(linger_seconds)
        _drain(batch_size, touched, totals, problems)
    sent = [row for row in touched if row["outcome"] == "sent"]
    # A task postponed in the first drain and sent in the second is no longer a problem.
    done = {row["task"] for row in sent}
    problems = {kind: [p for p in rows if p["task"] not in done] for kind, rows in problems.items()}
    totals["retrying"] = len(problems["retrying"])
    totals["failed"] = len(problems["failed"]) + len(problems["uncertain"])
    totals["sent"] = len(sent)
    publish_entity_artifacts([str(row["entity"]) for row in touched])
    summary = (
        f"{totals['sent']} e-mails sent, {totals['completed']} tasks done, "
        f"{totals['retrying']} to retry, {totals['failed']} failed ({reason})"
    )
    get_run_logger().info("%s", summary)
    warn_problems(problems)
    await acreate_table_artifact(
        key="dispatch-touched",
        table=touched or [{"outcome": "nothing to send", "entity": "-", "task": "-"}],
        description=f"E-mails sent and tasks postponed or failed by this run ({reason}).",
    )
    if touched:
        entities = list(dict.fromkeys(str(row["entity"]) for row in sent))
        what = f"{len(sent)} sent" + (f" ({shown(entities)})" if entities else "")
        await rename_run(f"dispatch {reason}: {what}")
    return final_state(problems, summary=summary, result=totals)


def _drain(
    batch_size: int,
    touched: list[dict[str, Any]],
    totals: dict[str, int],
    problems: dict[str, list[dict[str, Any]]],
) -> None:
    # Tasks postponed during this drain (a temporary failure) wait for a later one.
    started = datetime.now(UTC)
    totals["opened"] += open_gates()
    while task_ids := claim_batch(batch_size, started):
        result = send_batch(task_ids)
        touched += [{"outcome": "sent", **row} for row in result["sent"]]
        for outcome in ("retrying", "failed", "uncertain"):
            touched += [{"outcome": outcome, **row} for row in result[outcome]]
            problems[outcome] += result[outcome]
        totals["batches"] += 1
        totals["completed"] += result["completed"]
        totals["retrying"] += len(result["retrying"])
        totals["failed"] += len(result["failed"]) + len(result["uncertain"])
