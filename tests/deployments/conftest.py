"""A served stack for deployment tests: a Prefect server of the test's own, `haulflow serve`.

Each served test gets its own Prefect server: a served test leaves queued runs and held
concurrency slots behind, which must not block the next test (nor other suites).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlmodel import Session

from core.database import engine_for
from core.prefect_runtime import prefect_connection
from core.settings import get_settings
from deployments.catalog import DEPLOYMENT_NAMES
from storage.folder import FolderStore
from tests.mailroom import Mailroom
from tests.prefect_server import running_prefect_server
from tests.servers import SmtpSink

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

REPO = Path(__file__).resolve().parents[2]
SWEEP_SECONDS = 30


@pytest.fixture
def room(session: Session, smtp_sink: SmtpSink, quick_retries: None) -> Mailroom:
    """A scenario whose store is the one the served flows open from the settings."""
    return Mailroom(session, FolderStore(get_settings().resolved_documents_dir), smtp_sink)


@pytest.fixture
def prefect_api(tmp_path: Path) -> Iterator[str]:
    """A Prefect server of this test's own."""
    with running_prefect_server(tmp_path / "prefect-server") as api_url:
        yield api_url


@pytest.fixture
def client(prefect_api: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[SyncPrefectClient]:
    """A client of this test's server; Prefect calls of the test go there too."""
    from prefect.client.orchestration import get_client

    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    with prefect_connection(prefect_api), get_client(sync_client=True) as prefect_client:
        yield prefect_client


@pytest.fixture
def sweep_seconds() -> int:
    """The served sweep's interval (the shortest the settings accept)."""
    return SWEEP_SECONDS


@pytest.fixture
def served(
    prefect_api: str,
    client: SyncPrefectClient,
    tmp_path: Path,
    sweep_seconds: int,
) -> Iterator[Path]:
    """`haulflow serve` in a subprocess, until every deployment is polled by its runner.

    Yields its log. Start it after the database fixture and the configuration: it serves
    the database of HAULFLOW_DATABASE_URL, and the hand-run forms offer the task keys the
    database holds when serving starts.
    """
    env = os.environ | {
        "PREFECT_API_URL": prefect_api,
        "HAULFLOW_SWEEP_INTERVAL_SECONDS": str(sweep_seconds),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    log_path = tmp_path / "serve.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve"], cwd=REPO, env=env, stdout=log, stderr=log
    )
    try:
        wait_until(lambda: all_ready(client), 90, "deployments served", process, log_path)
        yield log_path
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@contextmanager
def room_on(url: str, sink: SmtpSink) -> Iterator[Mailroom]:
    """A scenario on the database at `url`; its store is the folder the served runs open."""
    with Session(engine_for(url), expire_on_commit=False) as session:
        yield Mailroom(session, FolderStore(get_settings().resolved_documents_dir), sink)


def prefect_cli(api_url: str, *args: str) -> str:
    """The stock `prefect` CLI against the server at `api_url`, from the repository; stdout."""
    process = subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        cwd=REPO,
        env=os.environ | {"PREFECT_API_URL": api_url},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert process.returncode == 0, process.stdout + process.stderr
    return process.stdout


def all_ready(client: SyncPrefectClient) -> bool:
    """Every deployment of the catalog exists and a runner polls it."""
    from prefect.client.schemas.objects import DeploymentStatus

    try:
        deployments = [client.read_deployment_by_name(name) for name in DEPLOYMENT_NAMES]
    except Exception:
        return False
    return all(d.status == DeploymentStatus.READY for d in deployments)


def wait_until(
    condition: Callable[[], bool],
    seconds: float,
    what: str,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Poll `condition` until true; fail naming `what` (with the process's log) otherwise."""
    deadline = time.monotonic() + seconds
    while not condition():
        if process is not None and process.poll() is not None:
            pytest.fail(f"the process exited: {log.read_text() if log else ''}")
        if time.monotonic() > deadline:
            tail = log.read_text()[-3000:] if log else ""
            pytest.fail(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.25)


def start_serve(
    prefect_api: str,
    log: Path,
    client: SyncPrefectClient,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """`haulflow serve` (no scheduled sweep), once its deployments are served; the caller
    stops it (SIGINT, or SIGTERM as `haulflow up` does)."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve"],
            cwd=REPO,
            env=os.environ
            | {"PREFECT_API_URL": prefect_api, "HAULFLOW_SWEEP_INTERVAL_SECONDS": "3600"}
            | (env or {}),
            stdout=output,
            stderr=output,
        )
    wait_until(lambda: all_ready(client), 90, "deployments served", process, log)
    return process
