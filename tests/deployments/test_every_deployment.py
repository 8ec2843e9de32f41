"""Every deployment started the way the Prefect UI starts it: through the server, on `serve`.

The runs are created on the Prefect server (`run_deployment`, and `prefect deployment run`
for the hand run, as an operator types it) and executed by the runner of `haulflow serve`,
in their own processes, loading the flows from their entrypoints. E-mails arrive at a real
SMTP server over TCP and are checked in the bytes it received; the database is read back.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlmodel import Session, select

from deployments.catalog import ALERT_TRIGGER, DEPLOYMENT_NAMES, hand_run_deployment
from lifecycle.generation import generate_tasks
from models import Category, Communication, Order, Scope, Task, TaskEvent, TaskStatus, utcnow
from services.tokens import create_token
from tests.api_server import running_api
from tests.deployments.conftest import REPO, prefect_cli, room_on, wait_until
from tests.factories import (
    make_booking,
    make_contact,
    make_invoice,
    make_order,
    make_party,
    make_trip,
)
from tests.mailroom import SEND_POD, TRIP_POD, Mailroom, pdf
from tests.servers import SmtpSink

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import FlowRun

BOOKING_MAIL = """
    - key: confirm-booking
      name: Confirm the booking
      execution: manual
      intended_for: {roles: [operations]}
      mailbox: pod
      email:
        default_language: en
        languages:
          en: {subject: "Booking {{ booking.reference }}", text: "Confirmed."}
"""
INVOICE_MAIL = """
    - key: send-invoice
      name: Send the invoice
      execution: manual
      intended_for: {roles: [billing]}
      mailbox: pod
      email:
        default_language: en
        languages:
          en: {subject: "Invoice {{ invoice.reference }}", text: "Please find it."}
"""


@pytest.fixture
def sweep_seconds() -> int:
    """No scheduled sweep during the test: it starts the sweep itself, after the rest."""
    return 3600


def _run(client: SyncPrefectClient, name: str, **parameters: Any) -> FlowRun:
    """Create a run of deployment `name` on the server and wait until the runner ends it."""
    from prefect.deployments import run_deployment

    run: FlowRun = run_deployment(name, parameters=parameters, timeout=120)
    assert run.state is not None and run.state.is_final(), f"{name} did not finish: {run.state}"
    return client.read_flow_run(run.id)


def _emit_action_failed(prefect_api: str, reason: str, *, automation: str) -> uuid.UUID:
    """What Prefect emits when the action of `automation` fails; the event's id."""
    from prefect.events import emit_event
    from prefect.events.worker import EventsWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: prefect_api}):
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


def _triggered_run(client: SyncPrefectClient, name: str, **parameters: str) -> FlowRun:
    """The run of deployment `name` a trigger started with `parameters`, once it ended."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    deployment = client.read_deployment_by_name(name)

    def started() -> list[FlowRun]:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
        )
        return [run for run in runs if parameters.items() <= run.parameters.items()]

    wait_until(lambda: bool(started()), 60, f"a run of {name} with {parameters}")
    return _finished(client, started()[0].id)


def _cli_run(prefect_api: str, name: str, *parameters: str) -> uuid.UUID:
    """`prefect deployment run NAME -p ...`, the stock CLI; the id of the run it created."""
    output = prefect_cli(prefect_api, "deployment", "run", name, *parameters)
    line = next(line for line in output.splitlines() if "UUID:" in line)
    return uuid.UUID(line.split("UUID:")[1].strip())


def _finished(client: SyncPrefectClient, run_id: uuid.UUID) -> FlowRun:
    wait_until(
        lambda: (state := client.read_flow_run(run_id).state) is not None and state.is_final(),
        120,
        f"flow run {run_id} to finish",
    )
    return client.read_flow_run(run_id)


def _artifact(client: SyncPrefectClient, run_id: uuid.UUID, key: str) -> list[dict[str, Any]]:
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    [artifact] = client.read_artifacts(
        artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]), key=ArtifactFilterKey(any_=[key])
        )
    )
    data = artifact.data
    rows: list[dict[str, Any]] = json.loads(data) if isinstance(data, str) else data
    return rows


def _to(room: Mailroom, subject_part: str) -> list[tuple[str, ...]]:
    return [r.rcpt_tos for r in room.sink.received if subject_part in r.message["Subject"]]


def _older_order(session: Session, contact: str) -> Order:
    """An order whose tasks were generated before the automation existed: it has none."""
    customer = make_party(session)
    make_contact(session, customer, "cmr-pod-processing", email=contact)
    order = make_order(session, customer)
    generate_tasks(
        session=session, category=Category.ORDER, entity_ids=[order.id], now=utcnow(), by="t"
    )
    session.commit()
    return order


@pytest.fixture
def sqlite_room(
    sqlite_database: str, smtp_sink: SmtpSink, quick_retries: None
) -> Iterator[Mailroom]:
    """The embedded default, SQLite (the work-pool test runs on PostgreSQL)."""
    with room_on(sqlite_database, smtp_sink) as room:
        yield room


def test_every_deployment_runs_on_the_served_stack(
    sqlite_room: Mailroom,
    prefect_api: str,
    client: SyncPrefectClient,
    request: pytest.FixtureRequest,
) -> None:
    room = sqlite_room
    session = room.session
    older = _older_order(session, "pod@older.example")
    # An older order whose customer has nobody to send its POD to: a dry run says it fails.
    nobody = make_order(session, make_party(session))
    session.commit()
    # Every category has an e-mail task; serving starts after, so its forms offer them.
    room.configure(orders=SEND_POD, trips=TRIP_POD, bookings=BOOKING_MAIL, invoices=INVOICE_MAIL)
    for order in (older, nobody):
        room.upload(order, "pod", pdf(f"pod {order.reference}"))
        room.upload(order, "cmr", pdf(f"cmr {order.reference}"))
    request.getfixturevalue("served")
    assert len(DEPLOYMENT_NAMES) == 11

    # The hand-run forms offer each category's e-mail tasks and the users as choices, and
    # every parameter says what it is for.
    form = client.read_deployment_by_name(hand_run_deployment(Category.ORDER))
    properties = form.parameter_openapi_schema["properties"]
    assert properties["task_key"]["enum"] == ["send-pod"]
    assert properties["requested_by"]["enum"] == ["alice"]
    assert all(field.get("description") for field in properties.values())
    trip_form = client.read_deployment_by_name(hand_run_deployment(Category.TRIP))
    assert trip_form.parameter_openapi_schema["properties"]["task_key"]["enum"] == ["trip-pod"]

    # run-order-task, as the operator typed it: a dry run completes, sends nothing,
    # and its artifact says who would get what.
    dry_id = _cli_run(
        prefect_api,
        hand_run_deployment(Category.ORDER),
        "-p",
        "task_key=send-pod",
        "-p",
        "requested_by=alice",
        "-p",
        f'entities=["{older.reference}"]',
        "-p",
        "dry_run=true",
    )
    dry = _finished(client, dry_id)
    assert dry.state is not None and dry.state.is_completed(), dry.state
    assert room.sink.received == []
    [row] = _artifact(client, dry_id, "run-order-task")
    assert row["would send to"] == "pod@older.example" and older.reference in row["subject"]
    assert dry.name == f"send-pod on {older.reference}: dry run, nothing sent"
    # What it found is in the run's log too, as the CLI prints it; a failure at WARNING.
    logged = {log.message: log.level for log in _logs(client, dry_id, "would send")}
    would = f"order:{older.reference}: would send 1 e-mail to pod@older.example: "
    assert any(message.startswith(would) for message in logged), logged
    failing = _run(client, hand_run_deployment(Category.ORDER), task_key="send-pod",
                   requested_by="alice", entities=[nobody.reference], dry_run=True)  # fmt: skip
    assert failing.name == f"send-pod on {nobody.reference}: dry run, nothing sent, 1 would fail"
    [(message, level)] = [
        (message, level)
        for message, level in {
            log.message: log.level for log in _logs(client, failing.id, "would fail")
        }.items()
        if message.startswith(f"order:{nobody.reference}: would fail: ")
    ]
    assert level == logging.WARNING and "recipient" in message, message
    assert room.sink.received == []

    # The real run sends exactly one e-mail, recorded with the run's id everywhere.
    real = _run(client, hand_run_deployment(Category.ORDER), task_key="send-pod",
                requested_by="alice", entities=[older.reference])  # fmt: skip
    assert real.state is not None and real.state.is_completed(), real.state
    assert _to(room, older.reference) == [("pod@older.example",)]
    session.expire_all()
    task = session.exec(select(Task).where(Task.entity_id == older.id)).one()
    assert (task.status, task.completed_by) == (TaskStatus.DONE, "alice")
    email = session.exec(select(Communication).where(Communication.task_id == task.id)).one()
    assert email.flow_run_id == real.id and email.requested_by == "alice"
    events = session.exec(select(TaskEvent).where(TaskEvent.task_id == task.id)).all()
    # Every history line of the run carries its id, the task's creation included.
    assert [e.flow_run_id for e in events] == [real.id] * len(events)
    assert {e.to_status for e in events} >= {"ready", "sending", "done"}
    # The entity page leads from each step to its run in the Prefect UI.
    page = _haulflow("tasks", "list", f"order:{older.reference}")
    assert f"done  by alice in flow run {real.id}" in page
    assert f"by alice in flow run {real.id}; `haulflow communications download" in page
    [listed] = json.loads(_haulflow("tasks", "list", f"order:{older.reference}", "--json"))["tasks"]
    assert {line["flow_run_id"] for line in listed["history"]} == {str(real.id)}
    assert [e["flow_run_id"] for e in listed["emails"]] == [str(real.id)]
    [row] = _artifact(client, real.id, "run-order-task")
    assert row["sent to"] == "pod@older.example"
    assert _artifact(client, real.id, f"order-{older.reference.lower()}")[0]["status"] == "done"
    assert real.name == f"send-pod on {older.reference}: 1 e-mail sent to pod@older.example"
    # Its progress, page by page, as a progress artifact: all of it done.
    assert [float(a.data) for a in _run_artifacts(client, real.id) if a.type == "progress"] == [
        100.0
    ]

    # A second run sends nothing.
    again = _run(client, hand_run_deployment(Category.ORDER), task_key="send-pod",
                 requested_by="alice", entities=[older.reference])  # fmt: skip
    assert again.state is not None and again.state.is_completed()
    assert len(_to(room, older.reference)) == 1
    assert _artifact(client, again.id, "run-order-task")[0]["outcome"].startswith("already sent")
    assert again.name == f"send-pod on {older.reference}: already sent, nothing sent"

    # A reference that does not exist: a failed run that says so, without a traceback.
    unknown = _run(client, hand_run_deployment(Category.ORDER), task_key="send-pod",
                   requested_by="alice", entities=["ORD-NOPE"])  # fmt: skip
    assert unknown.state is not None and unknown.state.is_failed()
    assert unknown.state.name == "Refused"  # the person's input: a warning in `status`
    assert unknown.state.message.startswith("order ORD-NOPE does not exist: import the order")
    assert unknown.name == "send-pod on ORD-NOPE: refused"
    logs = " ".join(log.message for log in _logs(client, unknown.id, "does not exist"))
    assert "ORD-NOPE does not exist" in logs and "Traceback" not in logs

    # A key the form does not offer is refused by the server before any run exists.
    from prefect.exceptions import PrefectHTTPStatusError

    with pytest.raises(PrefectHTTPStatusError):
        _run(client, hand_run_deployment(Category.ORDER), task_key="trip-pod",
             requested_by="alice", entities=[older.reference])  # fmt: skip

    # The other three hand runs each send their category's e-mail.
    subcontractor = make_party(session, kind="subcontractor")
    make_contact(session, subcontractor, "operations", email="ops@sub.example")
    booking = make_booking(session, subcontractor_id=subcontractor.id)
    billed = make_party(session)
    make_contact(session, billed, "billing", email="billing@billed.example")
    invoice = make_invoice(session, billed)
    carried = room.order("pod@carried.example")
    trip = make_trip(session, [carried])
    session.commit()
    room.upload(carried, "pod", pdf("carried pod"))
    for category, key, reference in (
        (Category.BOOKING, "confirm-booking", booking.reference),
        (Category.INVOICE, "send-invoice", invoice.reference),
        (Category.TRIP, "trip-pod", trip.reference),
    ):
        run = _run(client, hand_run_deployment(category), task_key=key, requested_by="alice",
                   entities=[reference])  # fmt: skip
        assert run.state is not None and run.state.is_completed(), (category, run.state)
    assert _to(room, booking.reference) == [("ops@sub.example",)]
    assert _to(room, invoice.reference) == [("billing@billed.example",)]
    assert _to(room, trip.reference) == [("pod@carried.example",)]

    # dispatcher: `serve` started one, which sends a ready task within seconds; a run started
    # through the server with a short lifetime hands over to a successor and completes.
    ready = room.order("pod@ready.example")
    room.upload(ready, "pod", pdf("ready pod"))
    room.upload(ready, "cmr", pdf("ready cmr"))
    wait_until(lambda: _to(room, ready.reference) == [("pod@ready.example",)], 10, "dispatcher")
    short = _run(client, "dispatcher/send-ready-emails", lifetime_seconds=10)
    assert short.state is not None and short.state.is_completed(), short.state
    assert short.name.startswith("dispatcher until ")

    # generate-<category>-tasks: entities created without generation get their tasks.
    pending = {
        Category.ORDER: room_order_without_tasks(room),
        Category.BOOKING: make_booking(session, subcontractor_id=subcontractor.id).id,
        Category.TRIP: make_trip(session).id,
        Category.INVOICE: make_invoice(session, billed).id,
    }
    session.commit()
    for category, entity_id in pending.items():
        run = _run(client, f"generate-{category.value}-tasks/new-{category.value}s")
        assert run.state is not None and run.state.is_completed(), (category, run.state)
        session.expire_all()
        assert session.exec(select(Task).where(Task.entity_id == entity_id)).first(), category

    # sweep: the backstop runs to the end, its dispatch as a subflow.
    swept = _run(client, "sweep/backstop")
    assert swept.state is not None and swept.state.is_completed(), swept.state

    # alert, by hand: a check; no automation action failed, so it is green.
    checked = _run(client, "alert/automation-failed")
    assert checked.state is not None and checked.state.is_completed(), checked.state
    assert checked.state.message == "no automation action failed in the last 10 minutes"
    assert checked.name == "alert: automations checked"
    # alert, by its trigger: a failed automation action starts it with the event's id; it
    # fails loudly, its reasons in the state's message, not in a traceback.
    # Not by a failure of its own automation: that would loop (each run failing to start
    # announcing another failure); emitted first, it has started nothing by the time the
    # other has.
    own = _emit_action_failed(prefect_api, "deployment gone", automation=ALERT_TRIGGER)
    reason = f"template key missing {uuid.uuid4().hex[:6]}"
    failure = _emit_action_failed(prefect_api, reason, automation="dispatch on upload")
    alarm = _triggered_run(client, "alert/automation-failed", failure_event=str(failure))
    assert alarm.state is not None and alarm.state.is_failed()
    assert reason in str(alarm.state.message) and alarm.name == "alert: automation action failed"
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    alerts = client.read_flow_runs(
        deployment_filter=DeploymentFilter(
            id=DeploymentFilterId(
                any_=[client.read_deployment_by_name("alert/automation-failed").id]
            )
        )
    )
    assert [run.parameters.get("failure_event") for run in alerts if run.id != checked.id] == [
        str(failure)
    ], own
    alarm_logs = " ".join(log.message for log in _logs(client, alarm.id, "Finished in state"))
    assert "Traceback" not in alarm_logs and reason in alarm_logs

    # Nothing crashed: every run the runner started could load its flow.
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterStateType
    from prefect.client.schemas.filters import FlowRunFilterState as StateFilter
    from prefect.client.schemas.objects import StateType

    crashed = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            state=StateFilter(type=FlowRunFilterStateType(any_=[StateType.CRASHED]))
        )
    )
    assert crashed == []


def _haulflow(*args: str) -> str:
    """What the CLI prints, as an operator would run it beside the stack."""
    done = subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _run_artifacts(client: SyncPrefectClient, run_id: uuid.UUID) -> list[Any]:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    return client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
    )


def _logs(client: SyncPrefectClient, run_id: uuid.UUID, awaited: str = "") -> list[Any]:
    """The run's log lines, once one holds `awaited` (the runner ships them after the run
    ends, a moment later)."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    def read() -> list[Any]:
        return client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))

    wait_until(lambda: any(awaited in log.message for log in read()), 30, f"a log with {awaited}")
    return read()


def _task(session: Session, entity_id: uuid.UUID) -> Task:
    session.expire_all()
    return session.exec(select(Task).where(Task.entity_id == entity_id)).one()


def room_order_without_tasks(room: Mailroom) -> uuid.UUID:
    """An order created after the configuration, its generation still pending."""
    order = make_order(room.session, make_party(room.session))
    room.session.flush()
    assert order.tasks_generated_at is None
    return order.id


def test_an_api_hand_run_too_large_for_a_request_runs_on_the_served_stack(
    sqlite_room: Mailroom,
    client: SyncPrefectClient,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A TMS asks for every older order of a day; more than a request sends, so the API starts
    the hand-run deployment, and `serve`'s runner sends them as a UI-started run would."""
    room = sqlite_room
    older = [_older_order(room.session, f"pod{number}@older.example") for number in range(3)]
    room.configure(orders=SEND_POD)
    for order in older:
        room.upload(order, "pod", pdf(f"pod {order.reference}"))
        room.upload(order, "cmr", pdf(f"cmr {order.reference}"))
    request.getfixturevalue("served")
    monkeypatch.setattr("api.app.MAX_RUN_ENTITIES", 2)
    _, secret = create_token(name="tms", scopes=[Scope.READ, Scope.SEND], now=utcnow())
    day_after_tomorrow = (utcnow() + timedelta(days=2)).date().isoformat()
    body = {"task_key": "send-pod", "created_before": day_after_tomorrow, "by": "alice"}

    with running_api() as url:

        def post(**changes: Any) -> httpx.Response:
            return httpx.post(
                f"{url}/runs", json=body | changes, headers=_bearer(secret), timeout=30
            )

        dry = post(dry_run=True)
        assert dry.status_code == 202, dry.text
        dry_run = _finished(client, uuid.UUID(dry.json()["flow_run"]["id"]))
        assert dry_run.state is not None and dry_run.state.is_completed(), dry_run.state
        assert dry_run.name.endswith("dry run, nothing sent") and room.sink.received == []
        # The server checks the form's choices: a username it does not offer is refused.
        stranger = post(dry_run=True, by="mallory")
        started = post()

    assert stranger.status_code == 409
    assert "refused a run of run-order-task/orders-by-hand" in stranger.json()["detail"]
    assert "mallory" in stranger.json()["detail"]

    assert started.status_code == 202, started.text
    answer = started.json()
    assert answer["entities"] == 3 and "more than 2 per request" in answer["detail"]
    run_id = uuid.UUID(answer["flow_run"]["id"])
    assert answer["flow_run"]["deployment"] == hand_run_deployment(Category.ORDER)
    assert answer["flow_run"]["url"].endswith(f"/runs/flow-run/{run_id}")
    run = _finished(client, run_id)
    assert run.state is not None and run.state.is_completed(), run.state
    assert run.name.startswith(f"send-pod on created before {day_after_tomorrow}: 3 e-mails")
    for number, order in enumerate(older):
        assert _to(room, order.reference) == [(f"pod{number}@older.example",)]
    emails = room.session.exec(select(Communication)).all()
    # Each send recorded with the user and the token the request came through, and the run.
    assert {(email.requested_by, email.flow_run_id) for email in emails} == {
        ("alice via api:tms", run_id)
    }


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
