"""The Prefect UI's hand run (`run-order-task`) and the alert flow, on a real Prefect server."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from sqlmodel import Session, select

from core.settings import get_settings
from flows.alert import AutomationActionFailed, alert
from flows.run_task import run_order_task
from models import Order, Task, TaskStatus
from storage.folder import FolderStore
from tests.factories import make_contact, make_order, make_party
from tests.mailroom import Mailroom, pdf
from tests.servers import SmtpSink

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient


@pytest.fixture
def room(session: Session, smtp_sink: SmtpSink, quick_retries: None) -> Mailroom:
    """A scenario whose store is the one the flows open from the settings."""
    return Mailroom(session, FolderStore(get_settings().resolved_documents_dir), smtp_sink)


def _older_order(room: Mailroom) -> Order:
    customer = make_party(room.session)
    make_contact(room.session, customer, "cmr-pod-processing", email="pod@older.example")
    order = make_order(room.session, customer)
    room.session.commit()
    room.configure()  # after the order: no task was generated for it
    room.upload(order, "pod", pdf("pod"))
    room.upload(order, "cmr", pdf("cmr"))
    return order


def test_a_hand_run_from_the_ui_is_named_and_tagged_after_its_entities(
    room: Mailroom, prefect_client: SyncPrefectClient
) -> None:
    order = _older_order(room)

    state = asyncio.run(
        run_order_task(
            task_key="send-pod",
            requested_by="alice",
            entities=[order.reference],
            return_state=True,
        )
    )

    assert state.is_completed(), state.message
    assert state.result() == {"entities": 1, "queued": 1, "sent": 1, "failed": 0}
    run = prefect_client.read_flow_run(state.state_details.flow_run_id)
    assert run.name == f"send-pod on {order.reference}: 1 e-mail(s) sent to pod@older.example"
    assert {"task:send-pod", f"order:{order.reference}"} <= set(run.tags)
    [received] = room.sink.received
    assert received.rcpt_tos == ("pod@older.example",)
    room.session.expire_all()
    task = room.session.exec(select(Task)).one()
    assert (task.status, task.completed_by) == (TaskStatus.DONE, "alice")


def test_a_blank_row_of_the_form_is_no_entity(
    room: Mailroom, prefect_client: SyncPrefectClient
) -> None:
    order = _older_order(room)

    def run(entities: list[str]) -> Any:
        return asyncio.run(
            run_order_task(
                task_key="send-pod", requested_by="alice", entities=entities, return_state=True
            )
        )

    blank = run(["", "  "])
    sent = run(["", f" {order.reference} "])

    assert blank.name == "Refused" and str(blank.message).startswith("name the entities")
    assert prefect_client.read_flow_run(blank.state_details.flow_run_id).name == (
        "send-pod on nothing: refused"
    )
    assert sent.is_completed(), sent.message
    name = prefect_client.read_flow_run(sent.state_details.flow_run_id).name
    assert name.startswith(f"send-pod on {order.reference}: 1 e-mail(s) sent")
    assert len(room.sink.received) == 1


def test_the_alert_flow_fails_loudly_with_the_failed_actions(prefect: str) -> None:
    from prefect.events import emit_event
    from prefect.events.worker import EventsWorker

    reason = f"template key missing {uuid.uuid4().hex[:6]}"
    emit_event(
        "prefect.automation.action.failed",
        resource={
            "prefect.resource.id": f"prefect.automation.{uuid.uuid4()}",
            "prefect.resource.name": "dispatch on upload",
        },
        payload={"reason": reason},
    )
    EventsWorker.drain_all()
    # The server stores events in batches: ask again until the alert sees this one.
    for _attempt in range(20):
        state = asyncio.run(alert(failure_event="e-1", return_state=True))
        assert state.is_failed()
        if reason in str(state.message):
            break
    else:
        pytest.fail(f"the alert never listed {reason!r}: {state.message}")
    with pytest.raises(AutomationActionFailed, match="dispatch on upload"):
        state.result()
