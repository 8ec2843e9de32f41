"""Make a failed automation action impossible to miss: a red run with the reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_markdown_artifact
from prefect.client.schemas.objects import State
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from tasks.alerts import read_failed_actions


class AutomationActionFailed(Exception):
    """An automation's action failed; the message lists which and why."""


def _run_name() -> str:
    started_by_trigger = flow_run.get_parameters().get("failure_event")
    return "alert: automation action failed" if started_by_trigger else "alert: automations checked"


@flow(name="alert", flow_run_name=_run_name)
async def alert(lookback_minutes: int = 10, failure_event: str | None = None) -> State[None]:
    """List the automation actions that failed recently; fail so the run shows red.

    Its trigger starts it with the failure's event id (`failure_event`): the run fails even
    when it finds nothing (the event is then older than the lookback window). Started by
    hand, it is a check: green with "none failed" when none did. The run ends with the list
    as its state message, not with an exception: no Python traceback around the reasons.

    Args:
        lookback_minutes: How far back to look for failed automation actions.
        failure_event: Set by the trigger; leave empty when checking by hand.
    """
    since = datetime.now(UTC) - timedelta(minutes=lookback_minutes)
    failures = await read_failed_actions(since)
    logger = get_run_logger()
    if not failures and failure_event is None:
        checked = f"no automation action failed in the last {lookback_minutes} minutes"
        logger.info("%s", checked)
        return Completed(message=checked)
    lines = [f"- {f['occurred']}: {f['automation']}: {f['reason']}" for f in failures]
    text = "\n".join(lines) or (
        f"- none in the last {lookback_minutes} minutes: the failure event {failure_event} "
        "is older than the lookback window; raise lookback_minutes"
    )
    logger.error("automation actions failed:\n%s", text)
    await acreate_markdown_artifact(
        key="haulflow-alerts",
        markdown=f"# Automation actions that failed\n\n{text}\n\nA trigger's template may "
        "read a key its event lacks, or a deployment may be missing: `haulflow status`.",
        description="Failed automation actions (haulflow alert).",
    )
    return Failed(message=text, data=AutomationActionFailed(text))
