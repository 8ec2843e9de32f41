"""The production path: `prefect deploy` from prefect.yaml onto a process work pool, a worker.

As an operator sets it up: `prefect work-pool create`, `prefect --no-prompt deploy --all`
from the repository, `prefect worker start --pool haulflow`; haulflow's database on
PostgreSQL. The hand run (dry, real, again) and the sweep are started through the server and
run by the worker in their own processes; the sweep starts the dispatcher, which sends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlmodel import Session, select

from delivery.dispatching import live_dispatchers
from deployments.catalog import hand_run_deployment
from deployments.prefect_yaml import WORK_POOL
from models import Category, Communication, Task, TaskStatus, utcnow
from tests.deployments.conftest import prefect_cli, room_on, wait_until
from tests.deployments.test_every_deployment import (
    _artifact,
    _cli_run,
    _finished,
    _older_order,
    _run,
    _to,
)
from tests.mailroom import Mailroom, pdf
from tests.servers import SmtpSink

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient


@pytest.fixture
def pg_room(
    postgresql_database: str, smtp_sink: SmtpSink, quick_retries: None
) -> Iterator[Mailroom]:
    """A scenario on PostgreSQL, its store the folder the worker's runs open."""
    with room_on(postgresql_database, smtp_sink) as room:
        yield room


@pytest.fixture
def worker(prefect_api: str, client: SyncPrefectClient, tmp_path: Path) -> Iterator[Path]:
    """The pool, the deployments of prefect.yaml on it, and one worker; yields its log."""
    prefect_cli(prefect_api, "work-pool", "create", WORK_POOL, "--type", "process")
    prefect_cli(prefect_api, "--no-prompt", "deploy", "--all")
    # The scheduled sweep would race the runs this test starts; it is tested on `serve`.
    client.pause_deployment(client.read_deployment_by_name("sweep/backstop").id)
    log_path = tmp_path / "worker.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", WORK_POOL],
        cwd=tmp_path,  # the deployments' pull step sets the working directory
        env=os.environ | {"PREFECT_API_URL": prefect_api, "PREFECT_WORKER_QUERY_SECONDS": "1"},
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        wait_until(lambda: b"started" in log_path.read_bytes(), 60, "the worker", process, log_path)
        yield log_path
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def test_hand_run_and_dispatch_on_a_process_work_pool(
    pg_room: Mailroom,
    prefect_api: str,
    client: SyncPrefectClient,
    request: pytest.FixtureRequest,
) -> None:
    room, session = pg_room, pg_room.session
    older = _older_order(session, "pod@older.example")
    room.configure()
    room.upload(older, "pod", pdf("older pod"))
    room.upload(older, "cmr", pdf("older cmr"))
    request.getfixturevalue("worker")
    name = hand_run_deployment(Category.ORDER)

    dry_id = _cli_run(
        prefect_api, name, "-p", "task_key=send-pod", "-p", "requested_by=alice",
        "-p", f'entities=["{older.reference}"]', "-p", "dry_run=true",
    )  # fmt: skip
    dry = _finished(client, dry_id)
    assert dry.state is not None and dry.state.is_completed(), dry.state
    assert room.sink.received == []
    assert _artifact(client, dry_id, "run-order-task")[0]["would send to"] == "pod@older.example"

    real = _run(client, name, task_key="send-pod", requested_by="alice",
                entities=[older.reference])  # fmt: skip
    assert real.state is not None and real.state.is_completed(), real.state
    assert _to(room, older.reference) == [("pod@older.example",)]
    session.expire_all()
    task = session.exec(select(Task).where(Task.entity_id == older.id)).one()
    assert task.status == TaskStatus.DONE
    email = session.exec(select(Communication).where(Communication.task_id == task.id)).one()
    assert email.flow_run_id == real.id
    assert _artifact(client, real.id, "run-order-task")[0]["sent to"] == "pod@older.example"
    assert _artifact(client, real.id, f"order-{older.reference.lower()}")[0]["status"] == "done"

    again = _run(client, name, task_key="send-pod", requested_by="alice",
                 entities=[older.reference])  # fmt: skip
    assert again.state is not None and again.state.is_completed()
    assert len(_to(room, older.reference)) == 1

    # `prefect deploy` gave the form free text; a sweep offers the configured keys again,
    # and starts the dispatcher no `serve` started here.
    swept = _run(client, "sweep/backstop")
    assert swept.state is not None and swept.state.is_completed(), swept.state
    form = client.read_deployment_by_name(name).parameter_openapi_schema
    assert form["properties"]["task_key"]["enum"] == ["send-pod"]
    wait_until(lambda: _dispatchers(session) == 1, 60, "the dispatcher the sweep started")

    # The dispatcher, a long-lived run on the worker, sends an upload's e-mail in seconds.
    ready = room.order("pod@ready.example")
    room.upload(ready, "pod", pdf("ready pod"))
    room.upload(ready, "cmr", pdf("ready cmr"))
    wait_until(lambda: _to(room, ready.reference) == [("pod@ready.example",)], 10, "e-mail")


def _dispatchers(session: Session) -> int:
    session.expire_all()
    return len(live_dispatchers(session=session, now=utcnow()))
