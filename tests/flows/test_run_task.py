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
    assert run.name == f"send-pod on {order.reference}: 1 e-mail sent to pod@older.example"
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
    assert name.startswith(f"send-pod on {order.reference}: 1 e-mail sent")
    assert len(room.sink.received) == 1


def _action_failed(automation: str, reason: str) -> uuid.UUID:
    """What Prefect emits when the action of `automation` fails; the event's id."""
    from prefect.events import emit_event
    from prefect.events.worker import EventsWorker

    event = emit_event(
        "prefect.automation.action.failed",
        resource={
            "prefect.resource.id": f"prefect.automation.{uuid.uuid4()}",
            "prefect.resource.name": automation,
        },
        payload={"reason": reason},
    )
    EventsWorker.drain_all()
    assert event is not None
    return event.id


def test_the_alert_flow_fails_loudly_with_the_failed_actions(prefect: str) -> None:
    reason = f"template key missing {uuid.uuid4().hex[:6]}"
    event_id = _action_failed("dispatch on upload", reason)
    # Started by its trigger the moment the event streams by, before the server stored it
    # (it does so in batches): the run waits for it rather than report nothing.
    state = asyncio.run(alert(failure_event=str(event_id), return_state=True))
    assert state.is_failed()
    assert "dispatch on upload" in str(state.message) and reason in str(state.message)
    with pytest.raises(AutomationActionFailed, match="dispatch on upload"):
        state.result()
    # Older than the lookback window, the event that started the run is listed even so.
    late = asyncio.run(alert(lookback_minutes=0, failure_event=str(event_id), return_state=True))
    assert late.is_failed() and reason in str(late.message), late.message
    # Prefect's words for a deployment that is gone, with what to do about it.
    gone = _action_failed(
        "generate-order-tasks: wake on entities changed",
        "Unexpected status from 'run-deployment' action: 404",
    )
    state = asyncio.run(alert(failure_event=str(gone), return_state=True))
    assert (
        "generate-order-tasks: wake on entities changed: Unexpected status from 'run-deployment' "
        "action: 404 (the deployment it starts is missing: `haulflow status` names it; "
        "`haulflow up` or `haulflow serve` registers it again)"
    ) in str(state.message), state.message


def test_an_alert_whose_event_is_never_stored_says_where_to_look(
    prefect: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.alert

    monkeypatch.setattr(flows.alert, "EVENT_WAIT_SECONDS", 2.0)
    never = uuid.uuid4()
    state = asyncio.run(alert(failure_event=str(never), return_state=True))
    assert state.is_failed()
    assert (
        f"an automation action failed (event {never}), but the Prefect server had not "
        "stored the event after 2 s: find it in the Prefect UI's event feed" in str(state.message)
    )
    typed = asyncio.run(alert(failure_event="e-1", return_state=True))
    assert typed.is_failed()
    assert "'e-1' is not an event id: the trigger sets failure_event; leave it empty" in str(
        typed.message
    )
