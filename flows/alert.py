"""Make a failed automation action impossible to miss: a red run with the reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_markdown_artifact

from tasks.alerts import read_failed_actions


class AutomationActionFailed(Exception):
    """An automation's action failed; the message lists which and why."""


@flow(name="alert", flow_run_name="alert: automation action failed")
async def alert(lookback_minutes: int = 10) -> None:
    """List the automation actions that failed recently, then fail so the run shows red."""
    since = datetime.now(UTC) - timedelta(minutes=lookback_minutes)
    failures = await read_failed_actions(since)
    lines = [f"- {f['occurred']}: {f['automation']}: {f['reason']}" for f in failures]
    text = "\n".join(lines) or "- (the failure event is older than the lookback window)"
    get_run_logger().error("automation actions failed:\n%s", text)
    await acreate_markdown_artifact(
        key="haulflow-alerts",
        markdown=f"# Automation actions that failed\n\n{text}\n\nA trigger's template may "
        "read a key its event lacks, or a deployment may be missing: `haulflow status`.",
        description="Failed automation actions (haulflow alert).",
    )
    raise AutomationActionFailed(text)
