"""The document gate reads the database: a trip's task waits for every order's documents."""

from __future__ import annotations

from sqlmodel import select

from ingestion.documents import record_document
from lifecycle.entities import EntityRef
from lifecycle.generation import generate_tasks
from models import Category, DocumentType, Task, TaskEvent, TaskStatus, utcnow
from tests.factories import make_contact, make_order, make_party, make_trip
from tests.mailroom import TRIP_POD, Mailroom, pdf


def test_a_groupage_trip_waits_until_every_order_has_its_pod(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    room.configure(orders="", trips=TRIP_POD)
    orders = []
    for _ in range(3):
        customer = make_party(room.session)
        make_contact(room.session, customer, "cmr-pod-processing")
        orders.append(make_order(room.session, customer))
    trip = make_trip(room.session, orders=orders)
    generate_tasks(
        session=room.session, category=Category.TRIP, entity_ids=[trip.id], now=utcnow(), by="t"
    )
    room.session.commit()

    for order in orders[:2]:
        room.upload(order, "pod", pdf(order.reference))
    room.drain()
    task = room.session.exec(select(Task)).one()
    assert task.status == TaskStatus.WAITING_FOR_DOCUMENTS
    assert room.sink.received == []

    room.upload(orders[2], "pod", pdf(orders[2].reference))
    # The upload itself opened the gate, in the same transaction as the document.
    room.session.expire_all()
    assert room.session.get_one(Task, task.id).status == TaskStatus.READY
    room.drain()

    assert len(room.sink.received) == 3
    notes = [e.note or "" for e in room.session.exec(select(TaskEvent)).all()]
    assert any("required documents recorded (pod)" in note for note in notes)


def test_the_sweep_opens_gates_for_documents_recorded_another_way(
    folder_mailroom: Mailroom,
) -> None:
    room = folder_mailroom
    room.configure()
    order = room.order()
    # Recorded without opening gates, as reconciliation or an older version would.
    for kind in ("pod", "cmr"):
        record_document(
            session=room.session,
            store=room.store,
            ref=EntityRef(Category.ORDER, order.reference),
            doc_type=DocumentType(kind),
            data=pdf(kind),
            filename=f"{kind}.pdf",
            source="reconciliation",
            max_bytes=10_000_000,
            now=utcnow(),
        )
    room.session.commit()

    room.drain()

    assert len(room.sink.received) == 1
