"""`explain`: an operator's troubleshooting checklist answered from the data.

Real SMTP server over TCP (aiosmtpd) and the folder store, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session

from core.database import get_engine
from core.errors import NotFoundError
from delivery.dispatching import hold_lease
from delivery.explain import Check, Explanation, explain_task
from lifecycle.entities import EntityRef
from lifecycle.generation import generate_tasks
from models import Category, Mailbox, Order, Party, utcnow
from tests.factories import make_contact, make_order, make_party, make_trip
from tests.mailroom import SEND_POD, TRIP_POD, Mailroom, pdf

POD_DESK = "pod@customer.example"


def _order(session: Session, *roles: str, trip: bool = True) -> Order:
    """An order whose customer has a contact holding `roles`, generated and committed."""
    customer = make_party(session, name="ACME Logistique", reference="CUST-ACME")
    make_contact(session, customer, *roles, email=POD_DESK)
    order = make_order(session, customer)
    if trip:
        make_trip(session, orders=[order], contact_emails=["dispatch@trip.example"])
    generate_tasks(
        session=session, category=Category.ORDER, entity_ids=[order.id], now=utcnow(), by="test"
    )
    session.commit()
    return order


def _explain(room: Mailroom, order: Order, key: str = "send-pod", **options: bool) -> Explanation:
    ref = EntityRef(Category.ORDER, order.reference)
    return explain_task(session=room.session, key=key, ref=ref, now=utcnow(), **options)


def _check(explanation: Explanation, name: str) -> Check:
    [check] = [check for check in explanation.checks if check.name == name]
    return check


def test_a_task_waiting_for_its_cmr_says_so_and_how_to_upload(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    room.configure()
    order = _order(room.session, "cmr-pod-processing")
    room.upload(order, "pod", pdf("pod"))

    explanation = _explain(room, order)

    assert explanation.conclusion == "waiting for cmr"
    assert explanation.status == "waiting_for_documents"
    documents = _check(explanation, "documents")
    assert documents.verdict == "waiting"
    assert "missing: cmr (recorded: pod)" in documents.detail
    assert f"haulflow documents upload order:{order.reference} cmr FILE" in (documents.action or "")
    assert _check(explanation, "mailbox").verdict == "ok"
    assert [check.name for check in explanation.checks][:3] == ["definition", "task", "execution"]


def test_a_sent_task_names_when_and_to_whom(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    room.configure()
    order = _order(room.session, "cmr-pod-processing")
    room.upload(order, "pod", pdf("pod"))
    room.upload(order, "cmr", pdf("cmr"))
    room.drain()

    explanation = _explain(room, order)

    sent = _check(explanation, "sent")
    assert sent.verdict == "ok"
    assert POD_DESK in sent.detail and "by automation" in sent.detail
    assert explanation.conclusion.startswith("sent on ")
    assert POD_DESK in explanation.conclusion
    # Nothing left to send: the relay is not tried and no document is waited for.
    assert {"mailbox", "documents"}.isdisjoint(check.name for check in explanation.checks)
    assert explanation.to_json()["checks"][0]["name"] == "definition"


def test_manual_mode_never_sends_by_itself(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    room.configure(execution="manual")
    order = _order(room.session, "cmr-pod-processing")
    room.upload(order, "pod", pdf("pod"))
    room.upload(order, "cmr", pdf("cmr"))
    room.drain()

    explanation = _explain(room, order)

    execution = _check(explanation, "execution")
    assert execution.verdict == "problem"
    assert "manual mode: never sends by itself" in execution.detail
    assert f"haulflow tasks run send-pod order:{order.reference}" in (execution.action or "")
    assert explanation.conclusion == "will not send: manual mode"


def test_a_paused_mailbox_holds_the_task(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    room.configure(paused=True)
    order = _order(room.session, "cmr-pod-processing")
    room.upload(order, "pod", pdf("pod"))
    room.upload(order, "cmr", pdf("cmr"))
    room.drain()

    explanation = _explain(room, order)

    paused = _check(explanation, "paused")
    assert paused.verdict == "waiting"
    assert "mailbox pod is paused" in paused.detail
    assert "paused: false" in (paused.action or "")
    assert "haulflow config apply" in (paused.action or "")
    assert explanation.conclusion == "waiting: mailbox pod paused"
    assert explanation.status == "ready"


def test_an_order_created_before_the_automation_gets_no_task_and_tasks_run_is_suggested(
    folder_mailroom: Mailroom,
) -> None:
    room = folder_mailroom
    order = _order(room.session, "cmr-pod-processing")  # generated with no configuration
    room.configure()

    explanation = _explain(room, order)

    assert explanation.task_id is None
    task = _check(explanation, "task")
    assert task.verdict == "problem"
    assert "before the automation:" in task.detail
    assert "configuration version 1" in task.detail
    assert task.action == f"`haulflow tasks run send-pod order:{order.reference}` sends it once"
    assert explanation.conclusion == "will not send by itself: created before the automation"
    # What a run would do: today's contacts would receive it.
    assert POD_DESK in _check(explanation, "recipients").detail


def test_a_role_nobody_holds_is_named_with_what_to_do(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    room.configure()
    order = _order(room.session, "billing", trip=False)

    explanation = _explain(room, order)

    recipients = _check(explanation, "recipients")
    assert recipients.verdict == "problem"
    assert "nobody holds the role(s) cmr-pod-processing" in recipients.detail
    assert "has no trip contacts" in recipients.detail
    action = recipients.action or ""
    assert "ACME Logistique (CUST-ACME) the role cmr-pod-processing (contacts page)" in action
    assert f"haulflow tasks run send-pod order:{order.reference}" in action


def test_smtp_down_shows_the_mailbox_unreachable_then_the_last_error(
    folder_mailroom: Mailroom,
) -> None:
    room = folder_mailroom
    room.configure()
    order = _order(room.session, "cmr-pod-processing")
    room.sink.stop()

    mailbox = _check(_explain(room, order), "mailbox")
    assert mailbox.verdict == "problem"
    assert f"127.0.0.1:{room.sink.port} refused the connection" in mailbox.detail

    room.upload(order, "pod", pdf("pod"))
    room.upload(order, "cmr", pdf("cmr"))
    room.drain()
    explanation = _explain(room, order)

    sending = _check(explanation, "sending")
    assert sending.verdict == "problem"
    assert "attempt 1 failed" in sending.detail and "refused the connection" in sending.detail
    assert explanation.conclusion.startswith("mailbox pod unreachable: ")
    skipped = _explain(room, order, probe_smtp=False)
    assert _check(skipped, "mailbox").verdict == "skipped"
    assert skipped.conclusion.startswith("retrying: ")


def test_a_5xx_failure_shows_the_servers_words(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    room.configure()
    order = _order(room.session, "cmr-pod-processing")
    room.sink.reply_next("554 5.7.1 message rejected as spam")
    room.upload(order, "pod", pdf("pod"))
    room.upload(order, "cmr", pdf("cmr"))
    room.drain()

    explanation = _explain(room, order)

    assert explanation.status == "failed"
    assert "554 5.7.1 message rejected as spam" in explanation.conclusion
    assert explanation.conclusion.startswith("failed: ")
    sending = _check(explanation, "sending")
    assert "554 5.7.1 message rejected as spam" in sending.detail
    assert "haulflow tasks run send-pod" in (sending.action or "")


def test_unknown_keys_entities_and_wrong_categories_are_explained(
    folder_mailroom: Mailroom,
) -> None:
    room = folder_mailroom
    order = _order(room.session, "cmr-pod-processing")
    assert _explain(room, order).conclusion == "will not send: no configuration applied"
    room.configure()

    unknown = _explain(room, order, key="send-cmr")
    assert unknown.conclusion == "will not send: no task definition send-cmr"
    with pytest.raises(NotFoundError, match="order NOPE does not exist"):
        explain_task(
            session=room.session,
            key="send-pod",
            ref=EntityRef(Category.ORDER, "NOPE"),
            now=utcnow(),
        )


def test_a_trip_task_names_the_orders_missing_documents(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    room.configure(trips=TRIP_POD)
    customer = make_party(room.session)
    make_contact(room.session, customer, "cmr-pod-processing")
    first, second = make_order(room.session, customer), make_order(room.session, customer)
    trip = make_trip(room.session, orders=[first, second], contact_emails=["d@trip.example"])
    generate_tasks(
        session=room.session, category=Category.TRIP, entity_ids=[trip.id], now=utcnow(), by="t"
    )
    room.session.commit()
    room.upload(first, "pod", pdf("pod"))

    ref = EntityRef(Category.TRIP, trip.reference)
    explanation = explain_task(
        session=room.session, key="trip-pod", ref=ref, now=utcnow(), probe_smtp=False
    )

    documents = _check(explanation, "documents")
    assert documents.detail == f"missing: {second.reference} pod"
    assert f"order:{second.reference} pod FILE" in (documents.action or "")
    assert explanation.conclusion == "waiting for pod"
    wrong = _explain(room, first, key="trip-pod", probe_smtp=False)
    assert wrong.conclusion == "will not send: trip-pod is a trip task"


@pytest.mark.parametrize(
    ("setting", "conclusion", "detail"),
    [
        (
            "conditions: {field: delivery_country, op: eq, value: DE}",
            "will not send: the creation conditions do not match",
            '"field": "delivery_country"',
        ),
        ("auto_generate: false", "will not send: auto_generate is off", "auto_generate is off"),
    ],
)
def test_no_task_by_configuration_says_which_setting(
    folder_mailroom: Mailroom, setting: str, conclusion: str, detail: str
) -> None:
    room = folder_mailroom
    room.configure(orders=SEND_POD.replace("mailbox: pod", f"mailbox: pod\n      {setting}"))
    order = _order(room.session, "cmr-pod-processing")

    explanation = _explain(room, order, probe_smtp=False)

    assert explanation.task_id is None
    assert explanation.conclusion == conclusion
    task = _check(explanation, "task")
    assert detail in task.detail
    assert f"haulflow tasks run send-pod order:{order.reference}" in (task.action or "")


def test_contacts_changed_since_the_task_was_created_are_pointed_out(
    folder_mailroom: Mailroom,
) -> None:
    room = folder_mailroom
    room.configure()
    order = _order(room.session, "cmr-pod-processing")
    customer = room.session.get_one(Party, order.customer_id)
    make_contact(room.session, customer, "cmr-pod-processing", email="new@customer.example")
    room.session.commit()

    explanation = _explain(room, order, probe_smtp=False)

    assert POD_DESK in _check(explanation, "recipients").detail
    contacts = _check(explanation, "contacts")
    assert (
        "new@customer.example" in contacts.detail
        and "frozen when the task was created" in contacts.detail
    )
    recalculate = f"`haulflow tasks recalculate order:{order.reference}`"
    assert contacts.action == f"{recalculate} takes today's contacts"


def test_a_missing_password_names_where_it_is_kept_never_the_value(
    folder_mailroom: Mailroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = folder_mailroom
    room.configure()
    order = _order(room.session, "cmr-pod-processing")
    mailbox = room.session.get_one(Mailbox, "pod")
    mailbox.password_secret = "SMTP_EXPLAIN_PASSWORD"
    room.session.commit()
    monkeypatch.delenv("SMTP_EXPLAIN_PASSWORD", raising=False)

    for probe in (True, False):
        missing = _check(_explain(room, order, probe_smtp=probe), "mailbox")
        assert missing.verdict == "problem"
        assert "set the environment variable SMTP_EXPLAIN_PASSWORD" in missing.detail

    monkeypatch.setenv("SMTP_EXPLAIN_PASSWORD", "s3cret-value")
    explanation = _explain(room, order)
    assert _check(explanation, "mailbox").verdict == "ok"
    assert "s3cret-value" not in json.dumps(explanation.to_json())


CHECK_BY_HAND = """
    - key: check-delivery
      name: Check the delivery
      execution: manual
      responsible: "user:alice"
"""


def test_a_manual_task_without_email_points_to_tasks_done_never_to_tasks_run(
    folder_mailroom: Mailroom,
) -> None:
    room = folder_mailroom
    room.configure(orders=SEND_POD + CHECK_BY_HAND)
    order = _order(room.session, "cmr-pod-processing")

    explanation = _explain(room, order, key="check-delivery")

    execution = _check(explanation, "execution")
    assert execution.verdict == "info" and "sends no e-mail" in execution.detail
    assert execution.action is not None and "haulflow tasks done" in execution.action
    assert explanation.conclusion == "a person completes it: it sends no e-mail"
    assert all("tasks run" not in (check.action or "") for check in explanation.checks)
    schedule = _check(explanation, "schedule")
    assert schedule.verdict == "info"
    assert schedule.detail.startswith("open for a person, overdue since ")


def test_another_customers_trip_contact_is_named_as_left_out_as_the_send_leaves_it(
    folder_mailroom: Mailroom,
) -> None:
    room = folder_mailroom
    room.configure()
    session = room.session
    customer = make_party(session, name="ACME Logistique", reference="CUST-ACME")
    make_contact(session, customer, "cmr-pod-processing", email=POD_DESK)
    other = make_party(session, name="Van den Berg", reference="CUST-VDB")
    make_contact(session, other, "operations", email="logistiek@vandenberg.example")
    order = make_order(session, customer)
    # A groupage trip whose contacts include the other customer's own desk.
    make_trip(
        session,
        orders=[order, make_order(session, other)],
        contact_emails=["logistiek@vandenberg.example", "dispatch@trip.example"],
    )
    generate_tasks(
        session=session, category=Category.ORDER, entity_ids=[order.id], now=utcnow(), by="test"
    )
    session.commit()

    recipients = [c for c in _explain(room, order).checks if c.name == "recipients"]

    assert [(c.verdict, c.detail) for c in recipients] == [
        ("ok", f"to {POD_DESK} (role:cmr-pod-processing), dispatch@trip.example (trip-contact)"),
        (
            "info",
            "left out: logistiek@vandenberg.example (trip-contact): a contact of another "
            f"customer than order {order.reference}'s, never sent its documents",
        ),
    ]
    room.upload(order, "pod", pdf("pod"))
    room.upload(order, "cmr", pdf("cmr"))
    room.drain()
    [received] = room.sink.received
    assert sorted(received.rcpt_tos) == sorted([POD_DESK, "dispatch@trip.example"])


def test_a_ready_task_without_a_running_dispatcher_says_what_to_start(
    folder_mailroom: Mailroom,
) -> None:
    room = folder_mailroom
    room.configure()
    order = _order(room.session, "cmr-pod-processing")
    room.upload(order, "pod", pdf("pod"))
    room.upload(order, "cmr", pdf("cmr"))

    alone = _explain(room, order, probe_smtp=False)
    hold_lease(engine=get_engine(), lease="dispatcher:test", now=utcnow())
    served = _explain(room, order, probe_smtp=False)

    assert alone.status == "ready"
    assert alone.conclusion == "ready, waiting for a dispatcher: none is running"
    waiting = _check(alone, "dispatcher")
    assert waiting.verdict == "waiting" and "`haulflow up`" in (waiting.action or "")
    assert f"haulflow tasks run send-pod order:{order.reference}" in (waiting.action or "")
    assert served.conclusion == "ready: the next dispatch sends it"
    assert _check(served, "dispatcher").verdict == "ok"
