"""The flow-run half of `haulflow status`: haulflow runs that crashed or failed lately.

A crashed or failed run is a problem (status exits 1); a run that ended `Postponed` or
`Held` (`tasks.outcomes`) left work that retries by itself or waits for a person, and a hand
run `Refused` what a person gave it (a reference that does not exist): warnings.
Runs that ended before the current `haulflow up` started were cut short by the previous
stack's stop and are history, not a problem now.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from core.moments import human_moment
from deployments.catalog import deployment_specs
from services.health import Check

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import FlowRun

LOOKBACK = timedelta(hours=1)
LISTED = 5
# Failed states that are an outcome, not a breakage: the runs list shows them red anyway.
LEFT_BEHIND = ("Postponed", "Held")
# A hand run refused its input (`flows.run_task`): the person who started it was told why.
REFUSED = "Refused"


def flow_names() -> list[str]:
    """Every haulflow flow, deployed or run in process (an import's `generate-tasks`, the
    sweep's `dispatch` drain)."""
    return sorted({spec.flow_name for spec in deployment_specs()} | {"generate-tasks", "dispatch"})


def run_checks(
    client: SyncPrefectClient, *, api_url: str, now: datetime, started_at: datetime | None
) -> list[Check]:
    """Crashed or failed runs of the last hour (a problem), runs that left work or refused
    a person's input (warnings)."""
    since = now - LOOKBACK
    if started_at is not None and started_at > since:
        since = started_at
    runs = _failed_runs(client, since)
    refused = [run for run in runs if _refused(run)]
    broken = [run for run in runs if not _left_behind(run) and not _refused(run)]
    left = [run for run in runs if _left_behind(run)]
    ui = api_url.removesuffix("/api")
    checks = []
    if broken:
        checks.append(
            Check(
                "flow runs",
                "problem",
                f"{len(broken)} haulflow run(s) crashed or failed since {human_moment(since)}",
                [_line(run, ui) for run in broken[:LISTED]],
                "open the run in the UI: its state message and logs say why",
            )
        )
    else:
        checks.append(
            Check(
                "flow runs", "ok", f"no haulflow run crashed or failed since {human_moment(since)}"
            )
        )
    if left:
        checks.append(
            Check(
                "runs with work left",
                "warning",
                f"{len(left)} run(s) postponed e-mails or held them for a person since "
                f"{human_moment(since)}",
                [_line(run, ui) for run in left[:LISTED]],
                "postponed e-mails retry by themselves; the WARNING lines of each run name "
                "the task and the reason (`haulflow explain TASK_KEY ENTITY` too)",
            )
        )
    if refused:
        checks.append(
            Check(
                "refused hand runs",
                "warning",
                f"{len(refused)} hand run(s) refused what they were given since "
                f"{human_moment(since)}",
                [_line(run, ui) for run in refused[:LISTED]],
                "each says what to correct (a reference, a task key, a username); start it "
                "again with the right input: nothing in the stack needs fixing",
            )
        )
    return checks


def _failed_runs(client: SyncPrefectClient, since: datetime) -> list[FlowRun]:
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterEndTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    return client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=flow_names())),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(
                type=FlowRunFilterStateType(any_=[StateType.FAILED, StateType.CRASHED])
            ),
            end_time=FlowRunFilterEndTime(after_=since),
        ),
        sort=FlowRunSort.END_TIME_DESC,
        limit=200,
    )


def _left_behind(run: FlowRun) -> bool:
    return run.state is not None and run.state.is_failed() and run.state.name in LEFT_BEHIND


def _refused(run: FlowRun) -> bool:
    return run.state is not None and run.state.name == REFUSED


def _line(run: FlowRun, ui: str) -> str:
    state = run.state.name if run.state else "?"
    # One line: a Prefect validation message spans several, which broke the layout.
    message = " ".join((run.state.message or "").split()) if run.state else ""
    if len(message) > 160:
        message = message[:159] + "…"
    return (
        f"{human_moment(run.end_time)} {run.name}: {state}: {message} {ui}/runs/flow-run/{run.id}"
    )
