"""`haulflow serve` on a real Prefect server: the dispatcher sends each e-mail within seconds
of the upload that readies it, never leaves one for the sweep, and hands over cleanly.

One served process per test (tests/deployments/conftest.py), with no sweep during the test
(an hour's interval): whatever goes out went out through a dispatcher. Uploads are recorded
in this process exactly as `haulflow documents upload` records them; e-mails arrive at a
real SMTP server over TCP.
"""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlmodel import Session, select

from delivery.dispatching import live_dispatchers
from models import Order, Task, utcnow
from tests.deployments.conftest import start_serve, wait_until
from tests.mailroom import Mailroom, pdf

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient


@pytest.fixture
def sweep_seconds() -> int:
    """No scheduled sweep while the test runs: only a dispatcher can send."""
    return 3600


def _received_for(room: Mailroom, order: Order) -> int:
    return sum(order.reference in r.message["Subject"] for r in room.sink.received)


def _seconds_to_email(room: Mailroom, order: Order, kind: str) -> float:
    """Upload `kind` for `order`, return the seconds until its e-mail reached the server."""
    started = time.monotonic()
    room.upload(order, kind, pdf(f"{kind}-{order.reference}"))
    wait_until(lambda: _received_for(room, order) == 1, 30, f"the e-mail of {order.reference}")
    return time.monotonic() - started


def _senders(session: Session) -> set[str]:
    session.expire_all()
    return {task.completed_by or "" for task in session.exec(select(Task)).all()}


def _dispatcher_runs(client: SyncPrefectClient) -> set[str]:
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["dispatcher"])))
    return {f"flow-run:{run.id}" for run in runs}


def _alive(session: Session) -> list[str]:
    session.expire_all()
    return [row.id for row in live_dispatchers(session=session, now=utcnow())]


def test_the_dispatcher_sends_within_seconds_and_never_leaves_the_last_upload(
    room: Mailroom, client: SyncPrefectClient, request: pytest.FixtureRequest
) -> None:
    room.configure()
    request.getfixturevalue("served")
    wait_until(lambda: len(_alive(room.session)) == 1, 60, "a dispatcher to start")

    # The wake-up the 10-second buckets used to lose: the POD's wake-up finds nothing to
    # send and ends; the CMR six seconds later is in the same bucket. It goes out at once.
    lost_before = room.order()
    room.upload(lost_before, "pod", pdf("pod"))
    time.sleep(6)
    assert _received_for(room, lost_before) == 0
    assert _seconds_to_email(room, lost_before, "cmr") < 3

    # Steady uploads: each e-mail within seconds of the upload that completes it.
    latencies = []
    for _ in range(10):
        order = room.order()
        room.upload(order, "pod", pdf("pod"))
        latencies.append(_seconds_to_email(room, order, "cmr"))
    assert max(latencies) < 3, latencies

    # A burst of 40 orders uploaded as fast as this process can: every e-mail once.
    burst = [room.order() for _ in range(40)]
    started = time.monotonic()
    for order in burst:
        room.upload(order, "pod", pdf("pod"))
        room.upload(order, "cmr", pdf("cmr"))
    uploaded = time.monotonic()
    wait_until(
        lambda: all(_received_for(room, order) == 1 for order in burst), 60, "the burst's e-mails"
    )
    assert time.monotonic() - uploaded < 30, time.monotonic() - started
    assert len(room.sink.received) == 51
    # Every task was sent by a dispatcher run, none by a sweep.
    assert _senders(room.session) <= _dispatcher_runs(client)


def test_a_restarted_serve_hands_over_to_a_new_dispatcher(
    room: Mailroom, client: SyncPrefectClient, prefect_api: str, tmp_path: Path
) -> None:
    """Stopping `serve` ends its dispatcher and its lease; the next `serve` starts one at once
    (no slot held, no waiting for a sweep), which sends the next upload."""
    room.configure()
    first = start_serve(prefect_api, tmp_path / "serve-1.log", client)
    try:
        wait_until(lambda: len(_alive(room.session)) == 1, 60, "a dispatcher to start")
        [before] = _alive(room.session)
    finally:
        first.send_signal(signal.SIGTERM)  # as `haulflow up` stops it
        first.wait(timeout=60)
    # Cancelled by the runner, the dispatcher gave its lease back on the way out.
    assert _alive(room.session) == []

    second = start_serve(prefect_api, tmp_path / "serve-2.log", client)
    try:
        wait_until(lambda: len(_alive(room.session)) == 1, 60, "a new dispatcher")
        assert _alive(room.session) != [before]
        order = room.order()
        room.upload(order, "pod", pdf("pod"))
        assert _seconds_to_email(room, order, "cmr") < 3
    finally:
        second.send_signal(signal.SIGINT)
        second.wait(timeout=60)


def test_a_dispatcher_hands_over_to_its_successor_at_the_end_of_its_lifetime(
    room: Mailroom, client: SyncPrefectClient, prefect_api: str, tmp_path: Path
) -> None:
    room.configure()
    env = {"HAULFLOW_DISPATCHER_LIFETIME_SECONDS": "15"}
    process = start_serve(prefect_api, tmp_path / "serve.log", client, env)
    try:
        wait_until(lambda: len(_alive(room.session)) == 1, 60, "a dispatcher to start")
        [first] = _alive(room.session)
        wait_until(lambda: first not in _alive(room.session), 60, "the handover")
        assert len(_alive(room.session)) == 1
        order = room.order()
        room.upload(order, "pod", pdf("pod"))
        assert _seconds_to_email(room, order, "cmr") < 3
        finished = client.read_flow_run(_run_id(first))
        assert finished.state is not None and finished.state.is_completed(), finished.state
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def _run_id(lease: str) -> uuid.UUID:
    return uuid.UUID(lease.partition(":")[2])
