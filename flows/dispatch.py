"""Send every ready automatic email task, in batches, until none is left (the sweep's drain)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.client.schemas.objects import State

from tasks.audit import publish_entity_artifacts
from tasks.mail import claim_batch, open_gates, send_batch
from tasks.outcomes import final_state, rename_run, shown, warn_problems


@flow(name="dispatch", flow_run_name="dispatch {reason}")
async def dispatch(reason: str = "sweep", batch_size: int = 200) -> State[dict[str, int]]:
    """Open document gates, then send ready e-mail tasks in batches until none is left.

    The sweep runs it as its last step, for whatever no dispatcher sent (none alive, a
    retry whose moment came). Ends `Completed` when everything went out, else `Postponed`
    or `Failed` (see `tasks.outcomes`), with a WARNING per task left behind.

    Args:
        reason: Why this run started, shown in its name.
        batch_size: Tasks claimed and sent per batch.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    touched: list[dict[str, Any]] = []
    totals = {"opened": 0, "batches": 0, "completed": 0, "retrying": 0, "failed": 0}
    problems: dict[str, list[dict[str, Any]]] = {"retrying": [], "failed": [], "uncertain": []}
    _drain(batch_size, touched, totals, problems)
    sent = [row for row in touched if row["outcome"] == "sent"]
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
