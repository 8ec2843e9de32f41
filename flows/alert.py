"""Make a failed automation action impossible to miss: a red run with the reasons."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_markdown_artifact
from prefect.client.schemas.objects import State
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from tasks.alerts import read_failed_actions, wait_for_failed_action

# How long a run its trigger started waits for the server to store the event it names: the
# server stores events in batches, every 5 s by default and later when it is busy.
EVENT_WAIT_SECONDS = 60.0


class AutomationActionFailed(Exception):
    """An automation's action failed; the message lists which and why."""


def _run_name() -> str:
    started_by_trigger = flow_run.get_parameters().get("failure_event")
    return "alert: automation action failed" if started_by_trigger else "alert: automations checked"


@flow(name="alert", flow_run_name=_run_name)
async def alert(lookback_minutes: int = 10, failure_event: str | None = None) -> State[None]:
    """List the automation actions that failed recently; fail so the run shows red.

    Its trigger starts it with the failure's event id (`failure_event`): the run waits until
    the server has stored that event, lists it with the others of the lookback window, and
    fails. Started by hand, it is a check: green with "none failed" when none did. The run
    ends with the list as its state message, not with an exception: no Python traceback
    around the reasons.

    Args:
        lookback_minutes: How far back to look for failed automation actions.
        failure_event: Set by the trigger; leave empty when checking by hand.
    """
    since = datetime.now(UTC) - timedelta(minutes=lookback_minutes)
    # The triggering event first: once it is stored, so are those that came before it.
    triggering, missing = await _triggering(failure_event) if failure_event else (None, "")
    failures = await read_failed_actions(since)
    logger = get_run_logger()
    if not failures and failure_event is None:
        checked = f"no automation action failed in the last {lookback_minutes} minutes"
        logger.info("%s", checked)
        return Completed(message=checked)
    if triggering is not None and triggering["id"] not in {f["id"] for f in failures}:
        failures.append(triggering)  # older than the lookback window, yet why the run started
    lines = [
        f"- {f['occurred']}: {f['automation']}: {f['reason']}{_advice(f['reason'])}"
        for f in failures
    ]
    text = "\n".join([*lines, missing] if missing else lines)
    logger.error("automation actions failed:\n%s", text)
    await acreate_markdown_artifact(
        key="haulflow-alerts",
        markdown=f"# Automation actions that failed\n\n{text}\n\nA trigger's template may "
        "read a key its event lacks, or a deployment may be missing: `haulflow status`.",
        description="Failed automation actions (haulflow alert).",
    )
    return Failed(message=text, data=AutomationActionFailed(text))


def _advice(reason: str) -> str:
    """What to do about a failure Prefect words for itself, when haulflow knows."""
    if "'run-deployment'" in reason and "404" in reason:
        return (
            " (the deployment it starts is missing: `haulflow status` names it; `haulflow up` "
            "or `haulflow serve` registers it again)"
        )
    return ""


async def _triggering(failure_event: str) -> tuple[dict[str, Any] | None, str]:
    """The failed action the trigger started this run for; when it cannot be read, a line
    that says why instead."""
    try:
        event_id = uuid.UUID(failure_event)
    except ValueError:
        return None, (
            f"- {failure_event!r} is not an event id: the trigger sets failure_event; leave it "
            "empty to check by hand"
        )
    found = await wait_for_failed_action(event_id, timeout=EVENT_WAIT_SECONDS)
    if found is None:
        return None, (
            f"- an automation action failed (event {event_id}), but the Prefect server had not "
            f"stored the event after {EVENT_WAIT_SECONDS:.0f} s: find it in the Prefect UI's "
            "event feed"
        )
    return found, ""
