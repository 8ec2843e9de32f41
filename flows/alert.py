"""Make a failed automation action impossible to miss: a red run with the reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_markdown_artifact
from prefect.client.schemas.objects import State
from prefect.states import Failed

from tasks.alerts import read_failed_actions


class AutomationActionFailed(Exception):
    """An automation's action failed; the message lists which and why."""


@flow(name="alert", flow_run_name="alert: automation action failed")
async def alert(lookback_minutes: int = 10) -> State[None]:
    """List the automation actions that failed recently, then fail so the run shows red.

    The run ends Failed with the list as its message, not with an exception: the reasons
    read in the UI without a Python traceback around them."""
    since = datetime.now(UTC) - timedelta(minutes=lookback_minutes)
    failures = await read_failed_actions(since)
    lines = [f"- {f['occurred']}: {f['automation']}: {f['reason']}" for f in failures]
    text = "\n".join(lines) or (
        f"- none in the last {lookback_minutes} minutes: started by its trigger, the failure "
        "is older than the lookback window (raise lookback_minutes); by hand, nothing failed"
    )
    get_run_logger().error("automation actions failed:\n%s", text)
    await acreate_markdown_artifact(
        key="haulflow-alerts",
        markdown=f"# Automation actions that failed\n\n{text}\n\nA trigger's template may "
        "read a key its event lacks, or a deployment may be missing: `haulflow status`.",
        description="Failed automation actions (haulflow alert).",
    )
    return Failed(message=text, data=AutomationActionFailed(text))
