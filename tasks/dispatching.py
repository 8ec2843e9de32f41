"""Prefect steps of the dispatchers: sending a batch, starting the dispatchers missing.

The plain part of a dispatcher run, its lease and wake-ups, is `services.sending.Shift`.
`ensure_dispatchers` starts the dispatcher runs that are missing (at `serve` start, from
every sweep, and by a dispatcher whose lifetime is up).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from core.settings import get_settings
from services import sending
from tasks.mail import alert_failure, automation_name, run_id, summarize

DISPATCHER_DEPLOYMENT = "dispatcher/send-ready-emails"
# A run asked for but not started yet (a worker polling, a subprocess starting) counts as
# on its way for this long; after that it is presumed lost and another is asked for.
STARTING_SECONDS = 60.0


@task(name="send-ready", cache_policy=NO_CACHE)
def send_ready(batch_size: int) -> dict[str, Any]:
    """Claim up to `batch_size` ready e-mail tasks and send them; alert on failures."""
    report = sending.send_ready(limit=batch_size, by=automation_name(), flow_run_id=run_id())
    for problem in report.failed:
        alert_failure(problem)
    return summarize(report)


@task(name="ensure-dispatchers", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=2)
def ensure_dispatchers(replicas: int | None = None, *, successor: bool = False) -> int:
    """Start the dispatcher runs missing to have `HAULFLOW_DISPATCHERS` alive; how many.

    `successor`: one more, for the calling dispatcher whose lifetime is up (it hands over
    once the new one beats).
    """
    if not from_deployment():
        return 0  # a run called in process (tests): no deployment to start dispatchers from
    replicas = get_settings().dispatchers if replicas is None else replicas
    forget_ended_dispatchers()
    started = start_dispatchers(sending.dispatchers_missing(replicas) + int(successor))
    if started:
        get_run_logger().info("started %d dispatcher run(s)", started)
    return started


def forget_ended_dispatchers() -> int:
    """Drop the leases of dispatcher runs Prefect knows ended (crashed, killed, cancelled).

    A dispatcher killed with SIGKILL cannot drop its lease; its runner (or worker) marks its
    run `Crashed`, and from then on its lease counts for nothing, without waiting for the
    row to go stale. Returns how many were dropped.
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    ended = []
    with get_client(sync_client=True) as client:
        for lease in sending.live_leases():
            try:
                run = client.read_flow_run(uuid.UUID(lease.partition(":")[2]))
            except (ValueError, ObjectNotFound):
                continue  # not a run's lease (a dispatcher called in process), or unknown here
            if run.state is not None and run.state.is_final():
                ended.append(lease)
    for lease in ended:
        sending.end_lease(lease)
    return len(ended)


def from_deployment() -> bool:
    """Whether the current flow run was started from a deployment (not called in process)."""
    from prefect.runtime import deployment

    return deployment.get_id() is not None


def start_dispatchers(count: int) -> int:
    """Start `count` dispatcher runs, less those asked for already and not started yet.

    `haulflow serve` starts `HAULFLOW_DISPATCHERS` of them whatever is alive: the new ones
    take over from the old (a `serve` restarted after a kill leaves a lease that looks
    alive for up to `STALE_SECONDS`, which must not delay the new dispatchers).
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.deployments import run_deployment

    if count <= 0:
        return 0
    deployment_name = DISPATCHER_DEPLOYMENT.partition("/")[2]
    with get_client(sync_client=True) as client:
        on_their_way = client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment_name])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.SCHEDULED, StateType.PENDING])
                )
            ),
        )
    cutoff = datetime.now(UTC) - timedelta(seconds=STARTING_SECONDS)
    recent = [run for run in on_their_way if run.created is None or run.created >= cutoff]
    started = 0
    for _ in range(count - len(recent)):
        run_deployment(DISPATCHER_DEPLOYMENT, timeout=0, as_subflow=False, tags=["haulflow"])
        started += 1
    return started
