"""Run an email task by hand for older entities, from the Prefect UI: one flow per category.

The same path as `haulflow tasks run` (`delivery.runs.run_by_hand`); the four flows differ
only in their name and category, so the Prefect UI shows "run-order-task" and
"run-trip-task" with a form an operations person can fill in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Coroutine
from typing import Any

from prefect import Flow, flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.runtime import flow_run

from models import Category
from tasks.runs import run_task_by_hand, tag_run

NAME_LIMIT = 3


def _run_name() -> str:
    parameters = flow_run.get_parameters()
    entities = [str(e) for e in parameters.get("entities") or []]
    shown = ", ".join(entities[:NAME_LIMIT]) + (
        f" +{len(entities) - NAME_LIMIT}" if len(entities) > NAME_LIMIT else ""
    )
    before = parameters.get("created_before")
    target = shown or (f"created before {before}" if before else "nothing")
    dry = " (dry run)" if parameters.get("dry_run") else ""
    return f"run {parameters['task_key']} on {target}{dry}"


def run_task_flow(category: Category) -> Flow[..., Coroutine[Any, Any, dict[str, int]]]:
    """The `run-<category>-task` flow."""

    @flow(name=f"run-{category.value}-task", flow_run_name=_run_name)
    async def run_task(
        task_key: str,
        requested_by: str,
        entities: list[str] | None = None,
        created_before: dt.date | None = None,
        dry_run: bool = False,
    ) -> dict[str, int]:
        """Send an email task by hand: named entities, or all created before a day.

        `requested_by` is a haulflow username (recorded as who sent); `entities` are
        references (`ORD-1001`) of this category; `dry_run` sends nothing.
        """
        refs = [e if ":" in e else f"{category.value}:{e}" for e in entities or []]
        await tag_run([f"task:{task_key}", *refs[:20]])
        result = run_task_by_hand(
            task_key=task_key,
            category=category.value,
            refs=refs,
            created_before=created_before,
            dry_run=dry_run,
            requested_by=requested_by,
        )
        get_run_logger().info("%s", result["summary"])
        await acreate_table_artifact(
            key=f"run-{category.value}-task",
            table=result["rows"] or [{"entity": "-", "outcome": "no entity matched"}],
            description=f"What this run of {task_key} did, per entity.",
        )
        counts: dict[str, int] = result["counts"]
        return counts

    return run_task


run_order_task = run_task_flow(Category.ORDER)
run_booking_task = run_task_flow(Category.BOOKING)
run_trip_task = run_task_flow(Category.TRIP)
run_invoice_task = run_task_flow(Category.INVOICE)
