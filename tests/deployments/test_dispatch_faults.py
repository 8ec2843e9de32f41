"""Faults on the served dispatcher: killed at each step of a send, `serve` stopped mid-batch.

On PostgreSQL, whose table locks hold the dispatcher at an exact step: before its claim
commits, after the SMTP server accepted but before the e-mail is recorded, after it is
recorded (the task done in the same commit). There it is killed with SIGKILL (its pid is in its
lease). Then a sweep, started through the server as its schedule would, starts a new
dispatcher and settles what the dead one left. Every e-mail goes out exactly once, except
the documented uncertain window (accepted, not recorded): sent again with the same
Message-ID, which receiving systems use to drop the copy.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core.database import engine_for
from delivery.dispatching import live_dispatchers
from models import Communication, Order, Task, TaskStatus, utcnow
from tests.deployments.conftest import room_on, start_serve, wait_until
from tests.mailroom import Mailroom, pdf
from tests.servers import SmtpSink

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient


@pytest.fixture
def sweep_seconds() -> int:
    """No scheduled sweep: the test starts each one itself."""
    return 3600


@pytest.fixture
def pg_room(
    postgresql_database: str,
    smtp_sink: SmtpSink,
    quick_retries: None,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Mailroom]:
    # A claim left `sending` by a killed dispatcher counts as abandoned after 3 s.
    monkeypatch.setenv("HAULFLOW_SENDING_TIMEOUT_SECONDS", "3")
    with room_on(postgresql_database, smtp_sink) as room:
        yield room


def _dispatcher(session: Session) -> tuple[str, int]:
    session.expire_all()
    [lease] = live_dispatchers(session=session, now=utcnow())
    return lease.id, lease.pid


@contextmanager
def _held(engine: Engine, statement: str) -> Iterator[Callable[[], None]]:
    """A transaction holding the lock `statement` takes, until the block ends or the
    callable it yields lets it go."""
    with engine.connect() as connection:
        transaction = connection.begin()
        connection.execute(sa.text(statement))

        def release() -> None:
            if transaction.is_active:
                transaction.rollback()

        try:
            yield release
        finally:
            release()


def _someone_waits(engine: Engine) -> bool:
    with engine.connect() as connection:
        waiting = connection.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        ).scalar_one()
    return int(waiting) > 0


def _ready_without_history(engine: Engine, order: Order) -> None:
    """Make the order's task ready as an upload would, writing no history row (the history
    table is what the test holds locked)."""
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE tasks SET status = 'ready' WHERE entity_id = :id"), {"id": order.id}
        )
        connection.execute(sa.text("NOTIFY haulflow_ready"))


def _messages(room: Mailroom, order: Order) -> list[str]:
    return [
        str(r.message["Message-ID"])
        for r in room.sink.received
        if order.reference in r.message["Subject"]
    ]


def _task(session: Session, order: Order) -> Task:
    session.expire_all()
    return session.exec(select(Task).where(Task.entity_id == order.id)).one()


def _sweep_then_sent(room: Mailroom, client: SyncPrefectClient, order: Order, killed: str) -> None:
    """A sweep (through the server) starts a new dispatcher; the task ends done."""
    from prefect.deployments import run_deployment

    run = run_deployment("sweep/backstop", timeout=120)
    assert run.state is not None and run.state.is_final(), run.state
    wait_until(lambda: _task(room.session, order).status == TaskStatus.DONE, 30, "done")
    wait_until(lambda: _alive_other_than(room.session, killed), 30, "a new dispatcher")


def _alive_other_than(session: Session, lease: str) -> bool:
    session.expire_all()
    return [row.id for row in live_dispatchers(session=session, now=utcnow())] not in ([], [lease])


def _waiting_order(room: Mailroom) -> Order:
    """An order whose task waits for its documents, which are recorded but not yet enough:
    its CMR upload is what the test makes ready."""
    order = room.order()
    room.upload(order, "pod", pdf(f"pod {order.reference}"))
    return order


def test_a_dispatcher_killed_at_each_step_loses_no_email(
    pg_room: Mailroom, client: SyncPrefectClient, request: pytest.FixtureRequest
) -> None:
    room = pg_room
    engine = engine_for(os.environ["HAULFLOW_DATABASE_URL"])
    room.configure()
    request.getfixturevalue("served")
    wait_until(lambda: len(live_dispatchers(session=room.session, now=utcnow())) == 1, 60, "up")

    # 1. Killed before its claim commits: the claim rolls back, the task is sent once.
    lease, pid = _dispatcher(room.session)
    held = room.order()
    with _held(engine, "LOCK TABLE task_events IN EXCLUSIVE MODE"):
        _ready_without_history(engine, held)
        wait_until(lambda: _someone_waits(engine), 10, "the claim to wait for the lock")
        os.kill(pid, signal.SIGKILL)
    assert _task(room.session, held).status == TaskStatus.READY  # the claim rolled back
    _sweep_then_sent(room, client, held, lease)
    assert len(_messages(room, held)) == 1

    # 2. Killed after the server accepted, before the e-mail is recorded: the uncertain
    # window. The sweep sends it again with the same Message-ID (on_uncertain_delivery:
    # resend, the default).
    lease, pid = _dispatcher(room.session)
    uncertain = _waiting_order(room)
    with _held(engine, "LOCK TABLE communications IN EXCLUSIVE MODE"):
        room.upload(uncertain, "cmr", pdf("cmr"))
        wait_until(lambda: len(_messages(room, uncertain)) == 1, 10, "the server's 250")
        wait_until(lambda: _someone_waits(engine), 10, "the record to wait for the lock")
        os.kill(pid, signal.SIGKILL)
    assert _task(room.session, uncertain).status == TaskStatus.SENDING
    time.sleep(3)  # HAULFLOW_SENDING_TIMEOUT_SECONDS: the claim is abandoned
    _sweep_then_sent(room, client, uncertain, lease)
    copies = _messages(room, uncertain)
    assert len(copies) == 2 and copies[0] == copies[1]  # the same Message-ID twice
    task_id = _task(room.session, uncertain).id
    logged = room.session.exec(select(Communication).where(Communication.task_id == task_id))
    assert len(logged.all()) == 1

    # 3. Killed after the e-mail is recorded (with the task done, in the same commit),
    # held at its next write, its lease's beat: nothing is sent again.
    lease, pid = _dispatcher(room.session)
    recorded = _waiting_order(room)
    room.upload(recorded, "cmr", pdf("cmr"))
    wait_until(lambda: _task(room.session, recorded).status == TaskStatus.DONE, 10, "done")
    with _held(engine, "LOCK TABLE heartbeats IN EXCLUSIVE MODE"):
        wait_until(lambda: _someone_waits(engine), 15, "the lease's beat to wait")
        os.kill(pid, signal.SIGKILL)
    time.sleep(3)
    _sweep_then_sent(room, client, recorded, lease)
    assert len(_messages(room, recorded)) == 1


def test_serve_stopped_mid_batch_gives_back_what_it_had_not_sent(
    pg_room: Mailroom, client: SyncPrefectClient, prefect_api: str, tmp_path: Path
) -> None:
    """Stopped (SIGTERM, as `haulflow up` stops it) while a dispatcher sends 12 e-mails to a
    slow server: the tasks it had not begun are `ready` at once, the next `serve` sends
    them; at most the one being sent is left to the sweep, with its Message-ID."""
    room = pg_room
    room.configure()
    orders = [_waiting_order(room) for _ in range(12)]
    first = start_serve(prefect_api, tmp_path / "serve-1.log", client)
    try:
        wait_until(lambda: len(live_dispatchers(session=room.session, now=utcnow())) == 1, 60, "up")
        room.sink.take(0.3)
        for order in orders:
            room.upload(order, "cmr", pdf(f"cmr {order.reference}"))
        wait_until(lambda: len(room.sink.received) >= 3, 30, "the batch under way")
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=60)
    room.session.expire_all()
    statuses = [_task(room.session, order).status for order in orders]
    sent_before = len(room.sink.received)
    assert statuses.count(TaskStatus.SENDING) <= 1, statuses
    assert statuses.count(TaskStatus.DONE) >= sent_before - 1, statuses
    assert live_dispatchers(session=room.session, now=utcnow()) == []  # its lease given back

    room.sink.take(0)
    second = start_serve(prefect_api, tmp_path / "serve-2.log", client)
    try:
        time.sleep(3)  # HAULFLOW_SENDING_TIMEOUT_SECONDS, for a send cut short
        from prefect.deployments import run_deployment

        run_deployment("sweep/backstop", timeout=120)
        wait_until(
            lambda: all(_task(room.session, o).status == TaskStatus.DONE for o in orders),
            60,
            "every task done",
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)
    per_order = [_messages(room, order) for order in orders]
    # Each order's e-mail once; the one cut short, if any, twice with its one Message-ID.
    assert all(len(set(ids)) == 1 for ids in per_order), per_order
    assert sum(len(ids) for ids in per_order) <= len(orders) + 1


def test_the_prefect_server_restarted_under_a_running_dispatcher(
    pg_room: Mailroom, tmp_path: Path
) -> None:
    """The dispatcher waits on the database, not on Prefect: an upload while the Prefect
    server is down is sent at once; once the server is back, so is the rest."""
    from prefect.client.orchestration import get_client

    from core.prefect_runtime import prefect_connection
    from stack.prefect_server import start_prefect_server, stop_prefect_server, wait_until_healthy
    from tests.prefect_server import free_port

    room = pg_room
    room.configure()
    home, port = tmp_path / "prefect-server", free_port()
    server = start_prefect_server(home=home, port=port)
    wait_until_healthy(server)
    serve = None
    try:
        with prefect_connection(server.api_url), get_client(sync_client=True) as client:
            serve = start_serve(server.api_url, tmp_path / "serve.log", client)
        wait_until(lambda: len(live_dispatchers(session=room.session, now=utcnow())) == 1, 60, "up")
        stop_prefect_server(server)

        during = _waiting_order(room)
        room.upload(during, "cmr", pdf("cmr"))
        wait_until(lambda: len(_messages(room, during)) == 1, 30, "the e-mail, server down")

        server = start_prefect_server(home=home, port=port)
        wait_until_healthy(server)
        after = _waiting_order(room)
        room.upload(after, "cmr", pdf("cmr"))
        wait_until(lambda: len(_messages(room, after)) == 1, 30, "the e-mail, server back")
        assert len(_messages(room, during)) == 1
        assert _task(room.session, during).status == TaskStatus.DONE
    finally:
        if serve is not None:
            serve.send_signal(signal.SIGTERM)
            serve.wait(timeout=60)
        stop_prefect_server(server)
