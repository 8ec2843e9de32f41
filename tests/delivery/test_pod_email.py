"""The heart of haulflow: POD and CMR uploaded → one e-mail with both, recorded, never twice.

Real SMTP server over TCP (aiosmtpd), real S3 over HTTP (moto) and the folder store, on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from core.settings import get_settings
from lifecycle.generation import generate_tasks
from models import Category, Communication, Mailbox, Order, Task, TaskEvent, TaskStatus, utcnow
from tests.factories import REPO, apply_config, make_contact, make_order, make_party, make_trip
from tests.mailroom import SEND_POD, Mailroom, pdf
from tests.servers import Received


def _order_with_contacts(session: Session) -> tuple[Order, list[str]]:
    customer = make_party(session, language="en")
    pod_desk = make_contact(session, customer, "cmr-pod-processing", email="pod@customer.example")
    make_contact(session, customer, "billing", email="billing@customer.example")
    order = make_order(session, customer, customer_reference="PO-77")
    make_trip(session, orders=[order], contact_emails=["dispatch@trip.example"])
    generate_tasks(
        session=session, category=Category.ORDER, entity_ids=[order.id], now=utcnow(), by="test"
    )
    session.commit()
    return order, [pod_desk.email, "dispatch@trip.example"]


def _task(session: Session, order: Order, key: str = "send-pod") -> Task:
    return session.exec(
        select(Task).where(Task.entity_id == order.id, Task.definition_key == key)
    ).one()


def test_pod_alone_sends_nothing_then_cmr_sends_one_email_with_both(mailroom: Mailroom) -> None:
    mailroom.configure()
    order, recipients = _order_with_contacts(mailroom.session)
    pod, cmr = pdf("pod"), pdf("cmr", 5_000)

    mailroom.upload(order, "pod", pod)
    assert mailroom.drain().sent == []
    assert mailroom.sink.received == []
    assert _task(mailroom.session, order).status == TaskStatus.WAITING_FOR_DOCUMENTS

    mailroom.upload(order, "cmr", cmr)
    report = mailroom.drain()

    [received] = mailroom.sink.received
    message = received.message
    assert sorted(received.rcpt_tos) == sorted(recipients)
    assert received.mail_from == "bounces@transports-test.example"
    assert message["Reply-To"] == "Service client <service@transports-test.example>"
    assert message["From"] == "Transports Test <pod@transports-test.example>"
    assert message["Subject"] == f"POD/CMR order {order.reference}"  # the customer's language
    attachments = {part.get_filename(): part for part in message.iter_attachments()}
    assert sorted(attachments) == [f"{order.reference}-cmr.pdf", f"{order.reference}-pod.pdf"]
    assert attachments[f"{order.reference}-pod.pdf"].get_content() == pod
    assert attachments[f"{order.reference}-cmr.pdf"].get_content() == cmr
    assert attachments[f"{order.reference}-pod.pdf"].get_content_type() == "application/pdf"
    assert "PO-77" in message.get_body(("plain",)).get_content()

    task = _task(mailroom.session, order)
    assert (task.status, task.completed_by) == (TaskStatus.DONE, "automation")
    assert [email.task_id for email in report.sent] == [task.id]
    [logged] = mailroom.session.exec(select(Communication)).all()
    assert logged.message_id == message["Message-ID"]
    assert sorted(logged.recipients) == sorted(recipients)
    # The archive holds exactly the bytes the server accepted.
    archived = mailroom.store.get(logged.archive_key or "")
    assert archived == received.data
    assert hashlib.sha256(archived).hexdigest() == logged.archive_sha256
    notes = [
        e.note for e in mailroom.session.exec(select(TaskEvent).where(TaskEvent.task_id == task.id))
    ]
    assert any(note and logged.message_id in note for note in notes)


def test_the_same_upload_twice_and_a_second_drain_send_one_email(mailroom: Mailroom) -> None:
    mailroom.configure()
    order, _ = _order_with_contacts(mailroom.session)

    for _ in range(2):
        mailroom.upload(order, "pod", pdf("pod"))
        mailroom.upload(order, "cmr", pdf("cmr"))
        mailroom.drain()
    mailroom.drain()

    assert len(mailroom.sink.received) == 1
    assert len(mailroom.session.exec(select(Communication)).all()) == 1


def test_smtp_down_is_retried_and_sent_once_it_is_back(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    room.configure()
    order, _ = _order_with_contacts(room.session)
    room.sink.stop()
    room.upload(order, "pod", pdf("pod"))
    room.upload(order, "cmr", pdf("cmr"))

    report = room.drain()

    task = _task(room.session, order)
    assert [problem.task_id for problem in report.retrying] == [task.id]
    assert (task.status, task.attempts) == (TaskStatus.READY, 1)
    assert task.next_attempt_at is not None and task.last_error
    assert "127.0.0.1" in task.last_error

    room.sink.start()
    room.drain()

    assert len(room.sink.received) == 1
    task = _task(room.session, order)
    assert (task.status, task.attempts, task.last_error) == (TaskStatus.DONE, 2, None)


def test_a_retry_waits_for_its_moment(folder_mailroom: Mailroom, monkeypatch) -> None:
    room = folder_mailroom
    monkeypatch.setenv("HAULFLOW_SEND_RETRY_BASE_SECONDS", "600")
    from core.settings import get_settings

    get_settings.cache_clear()
    room.configure()
    order, _ = _order_with_contacts(room.session)
    room.sink.reply_next("451 4.3.0 greylisted, try again later")
    room.upload(order, "pod", pdf("pod"))
    room.upload(order, "cmr", pdf("cmr"))

    room.drain()
    room.drain()  # too early: nothing is claimed
    assert room.sink.received == []
    task = _task(room.session, order)
    assert "451 4.3.0 greylisted" in (task.last_error or "")
    assert task.next_attempt_at is not None
    wait = task.next_attempt_at - utcnow()
    assert timedelta(minutes=9) < wait <= timedelta(minutes=10)

    room.drain(now=lambda: utcnow() + timedelta(minutes=11))
    assert len(room.sink.received) == 1


def test_a_5xx_fails_the_task_with_the_servers_words(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    room.configure()
    order, _ = _order_with_contacts(room.session)
    room.sink.reply_next("554 5.7.1 message rejected as spam")
    room.upload(order, "pod", pdf("pod"))
    room.upload(order, "cmr", pdf("cmr"))

    report = room.drain()

    task = _task(room.session, order)
    assert task.status == TaskStatus.FAILED
    assert "554 5.7.1 message rejected as spam" in (task.last_error or "")
    assert [problem.task_id for problem in report.failed] == [task.id]
    room.drain()
    assert room.sink.received == []


def test_a_manual_email_task_never_sends_by_itself(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    room.configure(execution="manual")
    order, _ = _order_with_contacts(room.session)
    room.upload(order, "pod", pdf("pod"))
    room.upload(order, "cmr", pdf("cmr"))

    room.drain()

    assert room.sink.received == []
    assert _task(room.session, order).status == TaskStatus.OPEN


def test_a_paused_mailbox_holds_its_tasks_and_resuming_sends_them(
    folder_mailroom: Mailroom,
) -> None:
    room = folder_mailroom
    room.configure(paused=True)
    order, _ = _order_with_contacts(room.session)
    room.upload(order, "pod", pdf("pod"))
    room.upload(order, "cmr", pdf("cmr"))

    room.drain()
    assert room.sink.received == []
    assert _task(room.session, order).status == TaskStatus.READY

    room.configure(paused=False)
    room.drain()
    assert len(room.sink.received) == 1


def test_an_error_only_real_data_triggers_fails_the_task_with_the_reason(
    folder_mailroom: Mailroom,
) -> None:
    room = folder_mailroom
    # A table of salutations that holds the sample customer, not this order's: the
    # configuration checks cannot see it (an absent value they can: `config validate`).
    salutation = "{{ {'CUST-042': 'Chère Brasserie'}[customer.reference] }}"
    room.configure(
        orders=SEND_POD.replace("text_path: templates/send-pod/fr.txt", f'text: "{salutation}"')
    )
    order = room.order()
    room.upload(order, "pod", pdf("pod"))
    room.upload(order, "cmr", pdf("cmr"))

    room.drain()

    task = _task(room.session, order)
    assert task.status == TaskStatus.FAILED
    assert "fails on this entity's data: UndefinedError: 'dict object' has no attribute" in (
        task.last_error or ""
    )
    assert room.sink.received == []


def test_a_message_over_the_mailbox_limit_fails_clearly(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    room.configure(max_bytes=20_000)
    order, _ = _order_with_contacts(room.session)
    room.upload(order, "pod", pdf("pod", 15_000))
    room.upload(order, "cmr", pdf("cmr", 15_000))

    room.drain()

    task = _task(room.session, order)
    assert task.status == TaskStatus.FAILED
    assert "20,000" in (task.last_error or "") or "20000" in (task.last_error or "")
    assert room.sink.received == []


def test_a_paused_definition_holds_its_tasks_until_resumed(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    room.configure(orders=SEND_POD.replace("mailbox: pod", "mailbox: pod\n      paused: true"))
    order = room.order()
    room.upload(order, "pod", pdf("pod"))
    room.upload(order, "cmr", pdf("cmr"))

    room.drain()
    assert room.sink.received == []
    assert _task(room.session, order).status == TaskStatus.READY

    room.configure()
    room.drain()
    assert len(room.sink.received) == 1


def test_one_connection_per_mailbox_per_batch(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    room.configure()
    orders = [room.order(contact=f"pod{n}@customer.example") for n in range(4)]
    for order in orders:
        room.upload(order, "pod", pdf(f"pod-{order.reference}"))
        room.upload(order, "cmr", pdf(f"cmr-{order.reference}"))

    room.drain()

    assert len(room.sink.received) == 4
    assert room.sink.connections == 1


def test_two_dispatchers_at_once_send_each_email_once(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    room.configure()
    orders = [room.order(contact=f"pod{n}@customer.example") for n in range(12)]
    for order in orders:
        room.upload(order, "pod", pdf(f"pod-{order.reference}"))
        room.upload(order, "cmr", pdf(f"cmr-{order.reference}"))
    start = threading.Barrier(2)

    def dispatcher() -> None:
        start.wait()
        room.drain()

    workers = [threading.Thread(target=dispatcher) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    received = sorted(r.rcpt_tos for r in room.sink.received)
    assert received == sorted((f"pod{n}@customer.example",) for n in range(12))
    assert len(room.session.exec(select(Communication)).all()) == 12


def test_the_relay_setting_sends_every_mailbox_through_one_server(
    folder_mailroom: Mailroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = folder_mailroom
    room.configure()
    # The mailbox names a server that does not exist and a secret nobody set.
    mailbox = room.session.get_one(Mailbox, "pod")
    mailbox.smtp_host, mailbox.password_secret = "smtp.unreachable.invalid", "NOT_SET_ANYWHERE"
    room.session.commit()
    monkeypatch.setenv("HAULFLOW_SMTP_RELAY", f"127.0.0.1:{room.sink.port}")
    get_settings.cache_clear()
    order = room.order()
    room.upload(order, "pod", pdf("pod"))
    room.upload(order, "cmr", pdf("cmr"))

    room.drain()

    assert len(room.sink.received) == 1


def test_a_contact_name_that_cannot_show_as_one_is_left_out_and_the_email_goes(
    folder_mailroom: Mailroom,
) -> None:
    """TMS exports often fill a contact's name with its address; the name is dropped from
    the header, never the e-mail."""
    room = folder_mailroom
    room.configure()
    names = {
        "pod@customer.example": "pod@customer.example",
        "desk@customer.example": 'Quote " , <z@evil.example>; w@evil.example',
        "jeanne@customer.example": "Jeanne Dupont",
    }

    received, order = _pod_email(room, "en", names)

    assert sorted(received.rcpt_tos) == sorted(names)
    shown = {
        address.addr_spec: address.display_name for address in received.message["To"].addresses
    }
    assert shown == {
        "pod@customer.example": "",
        "desk@customer.example": "",
        "jeanne@customer.example": "Jeanne Dupont",
    }
    assert b"evil.example" not in received.data
    assert _task(room.session, order).status == TaskStatus.DONE


def _example_pod_email(
    room: Mailroom, monkeypatch: pytest.MonkeyPatch, language: str, **order: Any
) -> tuple[Received, Order]:
    """The example configuration's POD e-mail for one order of a `language` customer."""
    apply_config(room.session, (REPO / "examples" / "tasks.yaml").read_text(encoding="utf-8"))
    room.session.commit()
    monkeypatch.setenv("HAULFLOW_SMTP_RELAY", f"127.0.0.1:{room.sink.port}")
    get_settings.cache_clear()
    return _pod_email(room, language, {"pod@customer.example": None}, **order)


def _pod_email(
    room: Mailroom, language: str, contacts: dict[str, str | None], **order: Any
) -> tuple[Received, Order]:
    """One order of a `language` customer with these POD contacts (address: name), its POD
    and CMR uploaded, drained: its one e-mail, the task done."""
    customer = make_party(room.session, language=language)
    for email, name in contacts.items():
        make_contact(room.session, customer, "cmr-pod-processing", email=email, name=name)
    made = make_order(room.session, customer, **order)
    generate_tasks(
        session=room.session, category=Category.ORDER, entity_ids=[made.id], now=utcnow(), by="t"
    )
    room.session.commit()
    room.upload(made, "pod", pdf("pod"))
    room.upload(made, "cmr", pdf("cmr"))
    room.drain()
    assert _task(room.session, made).status == TaskStatus.DONE
    [received] = room.sink.received
    return received, made


@pytest.mark.parametrize("language", ["fr", "en", "nl", "de"])
def test_the_example_pod_email_goes_for_an_order_without_a_delivery_date(
    folder_mailroom: Mailroom, monkeypatch: pytest.MonkeyPatch, language: str
) -> None:
    """An order created with its reference and customer only (as a TMS may post it first):
    the example templates leave the delivery date out instead of failing the e-mail."""
    received, order = _example_pod_email(
        folder_mailroom, monkeypatch, language, delivery_at=None, customer_reference=None
    )
    text = received.message.get_body(("plain",)).get_content()
    assert order.reference in text and "None" not in text


def test_an_encoded_word_in_data_beside_accented_text_is_sent_as_it_reads(
    folder_mailroom: Mailroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A harmless encoded word in a reference, in the French subject "… (réf. X)": decoded
    and checked word by word, the accented text around it as it is, and sent as it reads."""
    received, order = _example_pod_email(
        folder_mailroom, monkeypatch, "fr", customer_reference="=?utf-8?q?PO-77?="
    )
    assert received.message["Subject"] == f"POD/CMR - commande {order.reference} (réf. PO-77)"
