"""A real `prefect server start` for tests (isolated in a temporary folder), and readers of it.

Measured on Prefect 3: `prefect_test_harness()` runs no scheduler, so tests of schedules and
`serve` need a real server. It is the one `haulflow up` starts (`stack.prefect_server`), here
on a free port without UI. One server serves a whole test session.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from stack.prefect_server import running_prefect_server as _running_server

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import TaskRun
    from prefect.events.schemas.events import ReceivedEvent


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_prefect_server(home: Path) -> Iterator[str]:
    """Start `prefect server start` on a free port, without UI; yield its API URL; stop it."""
    with _running_server(home=home, port=free_port(), ui=False) as server:
        yield server.api_url


def settled_task_runs(
    client: SyncPrefectClient, flow_run_id: uuid.UUID, *, at_least: int, timeout: float = 60.0
) -> list[TaskRun]:
    """The flow run's task runs, oldest first, once the server has recorded them all.

    The server records task runs from the events the flow process sends, a little later than
    they happen (about 50 task runs/s on SQLite, measured). "All" means: at least `at_least`,
    all completed, and no new one in the last second, so a flow that made far more task runs
    than expected cannot pass a bound by being read too early.
    """
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    deadline = time.monotonic() + timeout
    previous = -1
    while True:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            sort=TaskRunSort.EXPECTED_START_TIME_ASC,
            limit=200,
        )
        completed = all(run.state is not None and run.state.is_completed() for run in runs)
        settled = len(runs) >= at_least and completed and len(runs) == previous
        if settled or time.monotonic() > deadline:
            return runs
        previous = len(runs)
        time.sleep(1.0)


def stored_events(
    client: SyncPrefectClient, event_ids: list[uuid.UUID], *, timeout: float = 30.0
) -> list[ReceivedEvent]:
    """The events with these ids, once the server stored at least one (it stores in batches)."""
    from prefect.events.filters import EventFilter, EventIDFilter

    deadline = time.monotonic() + timeout
    while True:
        # The server refuses more than 50 per page (Prefect's client defaults to 100).
        page = client.read_events(filter=EventFilter(id=EventIDFilter(id=event_ids)), limit=50)
        if page.events or time.monotonic() > deadline:
            return page.events
        time.sleep(0.5)
