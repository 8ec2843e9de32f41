"""`haulflow serve` on a real Prefect server: events wake dispatch, the sweep is the backstop.

One served process per test (it registers the deployments, polls every second); uploads are
recorded in this process and announced with the same wake-up event the CLI emits. E-mails
arrive at a real SMTP server over TCP.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlmodel import Session

from core.events import document_uploaded_payload, emit_document_uploaded
from core.prefect_runtime import prefect_connection
from core.settings import get_settings
from deployments.catalog import DEPLOYMENT_NAMES
from models import Order
from storage.folder import FolderStore
from tests.mailroom import Mailroom, pdf
from tests.prefect_server import running_prefect_server
from tests.servers import SmtpSink

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

REPO = Path(__file__).resolve().parents[2]
SWEEP_SECONDS = 10


@pytest.fixture
def room(session: Session, smtp_sink: SmtpSink, quick_retries: None) -> Mailroom:
    """A scenario whose store is the one the served flows open from the settings."""
    room = Mailroom(session, FolderStore(get_settings().resolved_documents_dir), smtp_sink)
    room.configure()
    return room


@pytest.fixture
def prefect_api(tmp_path: Path) -> Iterator[str]:
    """A Prefect server of this test's own: a served test leaves queued runs and held
    concurrency slots behind, which must not block the next test (nor other suites)."""
    with running_prefect_server(tmp_path / "prefect-server") as api_url:
        yield api_url


@pytest.fixture
def client(prefect_api: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[SyncPrefectClient]:
    from prefect.client.orchestration import get_client

    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    with prefect_connection(prefect_api), get_client(sync_client=True) as prefect_client:
        yield prefect_client


@pytest.fixture
def served(
    prefect_api: str, room: Mailroom, client: SyncPrefectClient, tmp_path: Path
) -> Iterator[None]:
    """`haulflow serve` in a subprocess, until every deployment is polled by its runner."""
    env = os.environ | {
        "PREFECT_API_URL": prefect_api,
        "HAULFLOW_SWEEP_INTERVAL_SECONDS": str(SWEEP_SECONDS),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve"], cwd=REPO, env=env, stdout=log, stderr=log
    )
    try:
        _wait(lambda: _all_ready(client), 90, "deployments served", process, tmp_path)
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _all_ready(client: SyncPrefectClient) -> bool:
    from prefect.client.schemas.objects import DeploymentStatus

    try:
        deployments = [client.read_deployment_by_name(name) for name in DEPLOYMENT_NAMES]
    except Exception:
        return False
    return all(d.status == DeploymentStatus.READY for d in deployments)


def _wait(
    condition: Callable[[], bool],
    seconds: float,
    what: str,
    process: subprocess.Popen[bytes] | None = None,
    logs: Path | None = None,
) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if process is not None and process.poll() is not None:
            pytest.fail(f"serve exited: {(logs or Path()).joinpath('serve.log').read_text()}")
        if time.monotonic() > deadline:
            tail = (logs / "serve.log").read_text()[-3000:] if logs else ""
            pytest.fail(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.25)


def _upload(room: Mailroom, prefect_api: str, order: Order, kind: str, *, announce: bool) -> None:
    room.upload(order, kind, pdf(f"{kind}-{order.reference}"))
    if announce:
        payload = document_uploaded_payload(
            order_reference=order.reference,
            document_type=kind,
            document_id=uuid.uuid4(),
            source="test",
        )
        emit_document_uploaded(payload, api_url=prefect_api)


def _received_for(room: Mailroom, order: Order) -> int:
    return sum(order.reference in r.message["Subject"] for r in room.sink.received)


def _dispatch_runs_since(client: SyncPrefectClient, since: datetime) -> int:
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
    )

    runs = client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=["dispatch"])),
        flow_run_filter=FlowRunFilter(
            expected_start_time=FlowRunFilterExpectedStartTime(after_=since)
        ),
        limit=200,
    )
    return len(runs)


@pytest.mark.usefixtures("served")
def test_events_wake_dispatch_and_the_sweep_catches_what_they_miss(
    room: Mailroom, prefect_api: str, client: SyncPrefectClient
) -> None:
    # The normal path: POD (nothing), then CMR (one e-mail), each announced.
    first = room.order()
    _upload(room, prefect_api, first, "pod", announce=True)
    _upload(room, prefect_api, first, "cmr", announce=True)
    _wait(lambda: _received_for(room, first) == 1, 60, "the e-mail of the announced upload")

    # A duplicated event sends nothing more.
    _upload(room, prefect_api, first, "cmr", announce=True)
    # A dropped event: nothing announced, the scheduled sweep finds the ready task.
    second = room.order()
    _upload(room, prefect_api, second, "pod", announce=False)
    _upload(room, prefect_api, second, "cmr", announce=False)
    _wait(lambda: _received_for(room, second) == 1, 3 * SWEEP_SECONDS + 30, "the sweep's e-mail")
    assert _received_for(room, first) == 1

    # A burst: 20 orders, 40 announced uploads in a few seconds, become a few runs.
    burst = [room.order() for _ in range(20)]
    started = datetime.now(UTC)
    for order in burst:
        _upload(room, prefect_api, order, "pod", announce=True)
        _upload(room, prefect_api, order, "cmr", announce=True)
    _wait(
        lambda: all(_received_for(room, order) == 1 for order in burst),
        90,
        "every e-mail of the burst",
    )
    elapsed = (datetime.now(UTC) - started).total_seconds()
    # One wake-up per 10-second bucket, plus the sweeps that ran meanwhile.
    assert _dispatch_runs_since(client, started) <= elapsed / 10 + 2 + elapsed / SWEEP_SECONDS
    assert len(room.sink.received) == 22
