"""The dispatch and sweep flows on a real Prefect server, sending to a real SMTP server."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlmodel import Session, select

from core.settings import get_settings
from flows.dispatch import dispatch
from flows.sweep import sweep
from ingestion.documents import document_key
from models import Communication, DocumentType, Task, TaskEvent, TaskStatus
from storage.folder import FolderStore
from tasks.outcomes import result_of
from tests.mailroom import Mailroom, pdf
from tests.servers import SmtpSink

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient


@pytest.fixture
def room(session: Session, smtp_sink: SmtpSink, quick_retries: None) -> Mailroom:
    """A scenario whose store is the one the flows open from the settings."""
    room = Mailroom(session, FolderStore(get_settings().resolved_documents_dir), smtp_sink)
    room.configure()
    return room


def test_dispatch_sends_and_records_the_run_in_the_history(
    room: Mailroom, prefect_client: SyncPrefectClient
) -> None:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    orders = [room.order() for _ in range(3)]
    for order in orders:
        room.upload(order, "pod", pdf(f"pod-{order.reference}"))
        room.upload(order, "cmr", pdf(f"cmr-{order.reference}"))

    state = asyncio.run(dispatch(reason="test", batch_size=2, return_state=True))

    assert state.is_completed()
    assert state.result()["sent"] == 3 and state.result()["batches"] == 2
    assert len(room.sink.received) == 3
    run_id = state.state_details.flow_run_id
    # The runs list says what each run sent.
    assert prefect_client.read_flow_run(run_id).name.startswith("dispatch test: 3 sent (order:")
    room.session.expire_all()
    tasks = room.session.exec(select(Task)).all()
    assert {task.completed_by for task in tasks} == {f"flow-run:{run_id}"}
    logged = room.session.exec(select(Communication)).all()
    assert {row.flow_run_id for row in logged} == {run_id}
    done = room.session.exec(select(TaskEvent).where(TaskEvent.to_status == "done")).all()
    assert {event.flow_run_id for event in done} == {run_id}
    artifacts = prefect_client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
    )
    by_key = {artifact.key: artifact for artifact in artifacts}
    assert all(order.reference in str(by_key["dispatch-touched"].data) for order in orders)
    # Each entity's keyed artifact holds its current task list.
    for order in orders:
        entity = by_key[f"order-{order.reference.lower()}"]
        assert "send-pod" in str(entity.data) and "done" in str(entity.data)


def test_a_permanent_failure_raises_a_prefect_event(
    room: Mailroom, prefect_client: SyncPrefectClient
) -> None:
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    order = room.order()
    room.sink.reply_next("550 5.7.1 relaying denied")
    room.upload(order, "pod", pdf("pod"))
    room.upload(order, "cmr", pdf("cmr"))

    state = asyncio.run(dispatch(reason="test", return_state=True))

    # Not a green Completed: a red `Failed` whose message says what is left.
    assert (state.is_failed(), state.name) == (True, "Failed")
    assert "1 failed: see the WARNING lines" in str(state.message)
    assert result_of(state)["failed"] == 1
    task = room.session.exec(select(Task)).one()
    assert task.status == TaskStatus.FAILED
    wanted = EventFilter(
        event=EventNameFilter(name=["haulflow.task.failed"]),
        resource=EventResourceFilter(id=[f"haulflow.task.{task.id}"]),
    )
    deadline = time.monotonic() + 30
    while not (events := prefect_client.read_events(filter=wanted, limit=5).events):
        assert time.monotonic() < deadline, "no haulflow.task.failed event reached the server"
        time.sleep(0.5)
    assert "550 5.7.1 relaying denied" in events[0].payload["error"]
    assert events[0].payload["entity"] == f"order:{order.reference}"


def test_the_sweep_finds_what_no_event_announced(
    room: Mailroom, prefect_client: SyncPrefectClient
) -> None:
    # Documents written straight into the store by another system, two minutes ago: no row,
    # no event. The sweep records them, opens the gate and sends.
    order = room.order()
    store = room.store
    for kind in ("pod", "cmr"):
        data = pdf(kind)
        key = document_key(order.id, DocumentType(kind), hashlib.sha256(data).hexdigest(), ".pdf")
        store.put(key, data, content_type="application/pdf")
        old = (datetime.now(UTC) - timedelta(minutes=5)).timestamp()
        os.utime(get_settings().resolved_documents_dir / key, (old, old))

    state = asyncio.run(sweep(return_state=True))

    assert state.is_completed()
    result = state.result()
    assert (result["recorded"], result["sent"]) == (2, 1)
    [received] = room.sink.received
    assert received.rcpt_tos == ("pod@customer.example",)
    assert prefect_client.read_flow_run(state.state_details.flow_run_id).name == "sweep"


def test_smtp_down_then_back_the_sweep_sends_it_once(
    room: Mailroom, prefect_client: SyncPrefectClient
) -> None:
    order = room.order()
    room.sink.stop()
    room.upload(order, "pod", pdf("pod"))
    room.upload(order, "cmr", pdf("cmr"))

    first = asyncio.run(dispatch(reason="document uploaded", return_state=True))
    room.sink.start()
    second = asyncio.run(sweep(reconcile_store=False, return_state=True))

    assert (first.is_failed(), first.name) == (True, "Postponed")
    assert (result_of(first)["retrying"], result_of(first)["sent"]) == (1, 0)
    assert second.is_completed() and result_of(second)["sent"] == 1
    assert len(room.sink.received) == 1
    room.session.expire_all()
    task = room.session.exec(select(Task)).one()
    assert (task.status, task.attempts) == (TaskStatus.DONE, 2)
