"""A document recorded after the e-mail went out: ignore, notify or resend, per definition.

The e-mails are read back from the bytes a real SMTP server received.
"""

from __future__ import annotations

from sqlmodel import select

from core.settings import get_settings
from delivery.explain import explain_task
from delivery.resend import resend_task
from ingestion.intake import Intake, record_and_open_gates
from lifecycle.entities import EntityRef
from lifecycle.generation import generate_tasks
from models import Category, Communication, DocumentType, Order, Task, TaskEvent, TaskStatus, utcnow
from tests.factories import make_contact, make_order, make_party, make_trip
from tests.mailroom import TRIP_POD, Mailroom, pdf


def _sent_order(room: Mailroom, corrected: str) -> Order:
    room.configure(corrected=corrected)
    order = room.order()
    room.upload(order, "pod", pdf("pod v1"))
    room.upload(order, "cmr", pdf("cmr"))
    room.drain()
    assert len(room.sink.received) == 1
    return order


def _upload(room: Mailroom, ref: EntityRef, kind: str, data: bytes, name: str) -> Intake:
    """What `documents upload` does: record, corrections, gates, one commit."""
    intake = record_and_open_gates(
        session=room.session,
        store=room.store,
        ref=ref,
        doc_type=DocumentType(kind),
        data=data,
        filename=name,
        source="test",
        max_bytes=get_settings().max_document_bytes,
        now=utcnow(),
    )
    room.session.commit()
    room.session.expire_all()
    return intake


def _task(room: Mailroom, entity_id: object) -> Task:
    return room.session.exec(select(Task).where(Task.entity_id == entity_id)).one()


def test_ignore_sends_nothing_but_says_the_email_had_the_earlier_file(
    folder_mailroom: Mailroom,
) -> None:
    room = folder_mailroom
    order = _sent_order(room, "ignore")
    ref = EntityRef(Category.ORDER, order.reference)

    intake = _upload(room, ref, "pod", pdf("pod v2"), "rescan.pdf")

    [correction] = intake.corrections
    assert (
        correction.policy == "ignore" and correction.earlier == f"pod ({order.reference}-pod.pdf)"
    )
    assert "nothing sent; `haulflow tasks resend" in str(correction)
    task = _task(room, order.id)
    assert task.status == TaskStatus.DONE
    room.drain()
    assert len(room.sink.received) == 1
    explanation = explain_task(
        session=room.session, key="send-pod", ref=ref, now=utcnow(), probe_smtp=False
    )
    [check] = [c for c in explanation.checks if c.name == "corrected documents"]
    assert "pod rescan.pdf" in check.detail and "ignore: not sent again" in check.detail
    assert check.action and f"tasks resend {task.id.hex[:8]}" in check.action


def test_resend_sends_a_new_email_with_the_new_file_recorded_as_caused_by_it(
    folder_mailroom: Mailroom,
) -> None:
    room = folder_mailroom
    order = _sent_order(room, "resend")
    first = room.sink.received[0].message

    intake = _upload(
        room, EntityRef(Category.ORDER, order.reference), "pod", pdf("pod v2"), "v2.pdf"
    )

    assert [c.policy for c in intake.corrections] == ["resend"]
    assert _task(room, order.id).status == TaskStatus.READY
    room.drain()
    old, new = (received.message for received in room.sink.received)
    assert new["Message-ID"] != first["Message-ID"] == old["Message-ID"]
    pods = [p.get_content() for p in new.iter_attachments() if p.get_filename().endswith("pod.pdf")]
    assert pods == [pdf("pod v2")]
    task = _task(room, order.id)
    assert task.status == TaskStatus.DONE and task.resend_reason is None
    rows = room.session.exec(select(Communication).order_by(Communication.sent_at)).all()
    assert [row.cause is None for row in rows] == [True, False]
    assert rows[1].cause is not None and rows[1].cause.startswith("corrected document: pod v2.pdf")


def test_notify_reopens_the_task_for_a_person_who_resends_it(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    order = _sent_order(room, "notify")

    _upload(room, EntityRef(Category.ORDER, order.reference), "pod", pdf("pod v2"), "v2.pdf")

    task = _task(room, order.id)
    assert task.status == TaskStatus.OPEN
    room.drain()
    assert len(room.sink.received) == 1  # a person decides
    [sent] = resend_task(task_id=task.id, store=room.store, by="alice").sent
    assert len(room.sink.received) == 2
    room.session.expire_all()
    assert _task(room, order.id).status == TaskStatus.DONE
    notes = [
        e.note or ""
        for e in room.session.exec(select(TaskEvent).where(TaskEvent.task_id == task.id))
    ]
    assert any("reopened for" in note for note in notes)
    row = room.session.exec(
        select(Communication).where(Communication.message_id == sent.message_id)
    ).one()
    assert row.cause == "resend by alice"


def test_on_a_groupage_trip_only_the_customer_of_the_corrected_order_gets_a_new_email(
    folder_mailroom: Mailroom,
) -> None:
    room = folder_mailroom
    room.configure(orders="", trips=TRIP_POD, corrected="resend")
    orders = []
    for name in ("a", "b"):
        customer = make_party(room.session)
        make_contact(room.session, customer, "cmr-pod-processing", email=f"pod@{name}.example")
        orders.append(make_order(room.session, customer))
    trip = make_trip(room.session, orders)
    room.session.commit()
    generate_tasks(
        session=room.session, category=Category.TRIP, entity_ids=[trip.id], now=utcnow(), by="t"
    )
    room.session.commit()
    for order in orders:
        room.upload(order, "pod", pdf(f"pod {order.reference}"))
    room.drain()
    assert sorted(r.rcpt_tos for r in room.sink.received) == [
        ("pod@a.example",),
        ("pod@b.example",),
    ]

    intake = _upload(
        room, EntityRef(Category.ORDER, orders[0].reference), "pod", pdf("a v2"), "a2.pdf"
    )

    assert [c.entity for c in intake.corrections] == [f"trip:{trip.reference}"]
    room.drain()
    assert [r.rcpt_tos for r in room.sink.received[2:]] == [("pod@a.example",)]
    [attachment] = room.sink.received[2].message.iter_attachments()
    assert attachment.get_content() == pdf("a v2")
