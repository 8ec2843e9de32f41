"""A real `prefect server start` for tests (isolated in a temporary folder), and readers of it.

DESIGN's measured facts: `prefect_test_harness()` runs no scheduler, so tests of schedules and
`serve` need a real server; with no network, telemetry locks the SQLite database at start-up
(`PREFECT_SERVER_ANALYTICS_ENABLED=false` avoids it). One server serves a whole test session.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import TaskRun
    from prefect.events.schemas.events import ReceivedEvent

STARTUP_TIMEOUT = 60.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_environment(home: Path) -> dict[str, str]:
    """The server's environment: its own PREFECT_HOME and SQLite file, no UI, no telemetry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return env | {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }


@contextmanager
def running_prefect_server(home: Path) -> Iterator[str]:
    """Start `prefect server start` on a free port; yield its API URL; stop it and its children."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = home / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start"]
            + ["--host", "127.0.0.1", "--port", str(port)],
            env=server_environment(home),
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group, so stopping it also stops the uvicorn/service children.
            start_new_session=True,
        )
        api_url = f"http://127.0.0.1:{port}/api"
        try:
            _wait_until_healthy(api_url, process, log_path)
            yield api_url
        finally:
            _stop(process)


def _wait_until_healthy(api_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"prefect server exited with {process.returncode}:\n{log_path.read_text()}"
            )
        try:
            if httpx.get(f"{api_url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    _stop(process)
    raise RuntimeError(
        f"prefect server not healthy after {STARTUP_TIMEOUT:.0f} s:\n{log_path.read_text()}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def settled_task_runs(
    client: SyncPrefectClient, flow_run_id: uuid.UUID, *, at_least: int, timeout: float = 60.0
) -> list[TaskRun]:
    """The flow run's task runs, oldest first, once the server has recorded them all.

    The server records task runs from the events the flow process sends, a little later than
    they happen (DESIGN: about 50 task runs/s on SQLite). "All" means: at least `at_least`,
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
