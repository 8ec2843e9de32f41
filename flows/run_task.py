"""Run an e-mail task by hand for older entities, from the Prefect UI: one flow per category.

The same path as `haulflow tasks run` (`delivery.runs.run_by_hand`). The four flows are one
function deployed under four names (`with_options`), so the Prefect UI shows
`run-order-task` and `run-trip-task`, each with its own form (the task keys of its category
as choices, see `deployments.forms`); the flow's name says which category it runs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.client.schemas.objects import State
from prefect.runtime import flow_run
from prefect.states import Failed

from core.text import counted
from models import Category
from tasks.audit import publish_entity_artifacts
from tasks.outcomes import final_state, rename_run, shown, warn_problems
from tasks.runs import log_dry_run, run_task_by_hand, tag_run, via_from_tags


def _named(entities: list[Any] | None) -> list[str]:
    """The entities the form names: a blank row of its list is none."""
    return [str(e).strip() for e in entities or [] if str(e).strip()]


def _target(parameters: dict[str, Any]) -> str:
    entities = _named(parameters.get("entities"))
    before = parameters.get("created_before")
    return shown(entities) or (f"created before {before}" if before else "nothing")


def _run_name() -> str:
    parameters = flow_run.get_parameters()
    dry = " (dry run)" if parameters.get("dry_run") else ""
    return f"{parameters['task_key']} on {_target(parameters)}{dry}"


def _category() -> Category:
    """The category this copy of the flow runs, from its name: `run-trip-task` → trip."""
    name = str(flow_run.get_flow_name())
    for category in Category:
        if name == f"run-{category.value}-task":
            return category
    raise ValueError(f"flow {name} runs no category: use run_order_task, run_trip_task, ...")


@flow(name="run-task", flow_run_name=_run_name)
async def run_task(
    task_key: str,
    requested_by: str,
    entities: list[str] | None = None,
    created_before: dt.date | None = None,
    dry_run: bool = False,
) -> State[dict[str, int]]:
    """Send an e-mail task by hand: to the entities named, or to all created before a day.

    A task already sent is left alone (resend it on purpose with `haulflow tasks resend`), so
    running the same form twice never sends twice.

    Args:
        task_key: The task to send, as configured (e.g. send-pod).
        requested_by: Your haulflow username; the sends are recorded as yours.
        entities: References of this category, e.g. ORD-1001 (or order:ORD-1001). Leave
            empty to use the day below.
        created_before: Every entity of this category created before this day (carrier's
            time), when no reference is given.
        dry_run: Show who would receive what, with which attachments; send nothing.
    """
    category = _category()
    refs = [e if ":" in e else f"{category.value}:{e}" for e in _named(entities)]
    # A tag per entity (20 at most) to filter runs by; a value too long to be one is not.
    await tag_run([f"task:{task_key}", *(ref for ref in refs[:20] if len(ref) <= 80)])
    result = run_task_by_hand(
        task_key=task_key,
        category=category.value,
        refs=refs,
        created_before=created_before,
        dry_run=dry_run,
        requested_by=requested_by,
        # Started by the HTTP API: the token it came through, recorded beside the user.
        via=via_from_tags(list(flow_run.get_tags())),
    )
    if "refused" in result:
        get_run_logger().error("%s", result["refused"])
        await rename_run(f"{task_key} on {_target(flow_run.get_parameters())}: refused")
        return Failed(name="Refused" if result["input"] else "Failed", message=result["refused"])
    get_run_logger().info("%s", result["summary"])
    warn_problems(result["problems"])
    failing = log_dry_run(result["rows"]) if dry_run else 0
    if not dry_run:
        publish_entity_artifacts(result["entities"])
    await acreate_table_artifact(
        key=f"run-{category.value}-task",
        table=result["rows"] or [{"entity": "-", "outcome": "no entity matched"}],
        description=f"What this run of {task_key} did, per entity, and who got which e-mail.",
    )
    counts: dict[str, int] = result["counts"]
    sent = f"{counted(counts['sent'], 'e-mail')} sent" + (
        f" to {shown(result['recipients'], 2)}" if result["recipients"] else ""
    )
    if not counts["sent"] and not counts["queued"] and result["already_sent"]:
        sent = "already sent, nothing sent"
    done = "dry run, nothing sent" if dry_run else sent
    if failing:
        done += f", {failing} would fail"
    await rename_run(f"{task_key} on {_target(flow_run.get_parameters())}: {done}")
    return final_state(result["problems"], summary=result["summary"], result=counts)


run_order_task = run_task.with_options(name="run-order-task")
run_booking_task = run_task.with_options(name="run-booking-task")
run_trip_task = run_task.with_options(name="run-trip-task")
run_invoice_task = run_task.with_options(name="run-invoice-task")
