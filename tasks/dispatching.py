"""Prefect steps of the dispatchers: a shift (lease, wake-ups), sending, starting more.

`Shift` is the plain part of a dispatcher run: it holds the lease (`delivery.dispatching`)
and the database waiter (`core.wakeups`) for the run's lifetime, so the flow only decides
when to send and when to hand over. `ensure_dispatchers` starts the dispatcher runs that
are missing (at `serve` start, from every sweep, and by a dispatcher whose lifetime is up).
"""

from __future__ import annotations

import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from core.database import get_engine, session_scope
from core.settings import get_settings
from core.wakeups import Waiter, ready_waiter
from delivery.claims import claim_ready_tasks
from delivery.dispatching import (
    BEAT_SECONDS,
    drop_lease,
    hold_lease,
    live_dispatchers,
    missing_dispatchers,
    superseded,
    work_waiting,
)
from delivery.sender import deliver_tasks
from storage.factory import open_document_store
from tasks.mail import alert_failure, automation_name, run_id, summarize

DISPATCHER_DEPLOYMENT = "dispatcher/send-ready-emails"
# A run asked for but not started yet (a worker polling, a subprocess starting) counts as
# on its way for this long; after that it is presumed lost and another is asked for.
STARTING_SECONDS = 60.0


class Shift:
    """One dispatcher's lease and wake-ups, from `__enter__` to `__exit__`."""

    def __init__(self, *, lease: str, replicas: int) -> None:
        self.lease, self.replicas = lease, replicas
        self._engine = get_engine()
        self._stack = ExitStack()
        self._waiter: Waiter | None = None
        self._beaten = 0.0

    def __enter__(self) -> Shift:
        hold_lease(engine=self._engine, lease=self.lease, now=datetime.now(UTC))
        self._beaten = time.monotonic()
        self._waiter = self._stack.enter_context(ready_waiter(self._engine))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self._stack.close()
        finally:
            drop_lease(engine=self._engine, lease=self.lease)

    def work_waiting(self) -> bool:
        """An automatic e-mail task can be claimed now."""
        with session_scope() as session:
            return work_waiting(session=session, now=datetime.now(UTC))

    def wait(self, seconds: float) -> bool:
        """Block until a commit may have readied tasks, or `seconds`; True if woken."""
        assert self._waiter is not None, "a shift waits only between __enter__ and __exit__"
        return self._waiter.wait(seconds)

    def keep_going(self) -> bool:
        """Beat every `BEAT_SECONDS`; False once enough newer dispatchers took over."""
        if time.monotonic() - self._beaten < BEAT_SECONDS:
            return True
        now = datetime.now(UTC)
        hold_lease(engine=self._engine, lease=self.lease, now=now)
        self._beaten = time.monotonic()
        with session_scope() as session:
            return not superseded(
                session=session, lease=self.lease, replicas=self.replicas, now=now
            )


@task(name="send-ready", cache_policy=NO_CACHE)
def send_ready(batch_size: int) -> dict[str, Any]:
    """Claim up to `batch_size` ready e-mail tasks and send them; alert on failures."""
    with session_scope() as session:
        ids = claim_ready_tasks(
            session=session,
            now=datetime.now(UTC),
            by=automation_name(),
            limit=batch_size,
            flow_run_id=run_id(),
        )
    report = deliver_tasks(
        task_ids=ids,
        store=open_document_store(get_settings()),
        by=automation_name(),
        flow_run_id=run_id(),
    )
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
    with session_scope() as session:
        missing = missing_dispatchers(session=session, replicas=replicas, now=datetime.now(UTC))
    started = start_dispatchers(missing + int(successor))
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

    with session_scope() as session:
        leases = [row.id for row in live_dispatchers(session=session, now=datetime.now(UTC))]
    ended = []
    with get_client(sync_client=True) as client:
        for lease in leases:
            try:
                run = client.read_flow_run(uuid.UUID(lease.partition(":")[2]))
            except (ValueError, ObjectNotFound):
                continue  # not a run's lease (a dispatcher called in process), or unknown here
            if run.state is not None and run.state.is_final():
                ended.append(lease)
    for lease in ended:
        drop_lease(engine=get_engine(), lease=lease)
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
