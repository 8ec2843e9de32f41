"""One upload, as every entry point takes it in: recorded, its gates opened, in a handful of
statements; what the upload read on its way (the order's trips, its recorded types) is what
the gate decides on, for an order's task and for a trip's."""

from __future__ import annotations

from sqlmodel import Session, select

from core.settings import get_settings
from ingestion.intake import Intake, record_and_open_gates
from lifecycle.entities import EntityRef
from lifecycle.generation import generate_tasks
from models import Category, DocumentType, Order, Task, TaskStatus, utcnow
from tests.factories import make_contact, make_order, make_party, make_trip
from tests.mailroom import TRIP_POD, Mailroom, pdf
from tests.statements import counted_statements


def _upload(session: Session, room: Mailroom, order: Order, kind: str) -> Intake:
    intake = record_and_open_gates(
        session=session,
        store=room.store,
        ref=EntityRef(Category.ORDER, order.reference),
        doc_type=DocumentType(kind),
        data=pdf(f"{kind} {order.reference}"),
        filename=f"{kind}.pdf",
        source="test",
        max_bytes=get_settings().max_document_bytes,
        now=utcnow(),
    )
    session.commit()
    return intake


def test_an_upload_takes_a_handful_of_statements(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    room.configure()
    order = room.order()
    engine = room.session.get_bind()

    with Session(engine) as session, counted_statements(engine) as pod_statements:
        assert _upload(session, room, order, "pod").opened == []
    with Session(engine) as session, counted_statements(engine) as cmr_statements:
        [opened] = _upload(session, room, order, "cmr").opened

    # The POD: the order with its trips, its documents, the new row, its waiting tasks.
    assert _queries(pod_statements) == 4, pod_statements
    # The CMR completes the order: the same four, the snapshot (2), the task and its
    # history; on PostgreSQL the NOTIFY that wakes the dispatcher at commit.
    assert _queries(cmr_statements) <= 9, cmr_statements
    assert room.session.get_one(Task, opened).status == TaskStatus.READY


def test_a_trip_task_opens_with_the_upload_that_completes_its_orders(
    folder_mailroom: Mailroom,
) -> None:
    room = folder_mailroom
    room.configure(orders="", trips=TRIP_POD)
    session = room.session
    orders = []
    for number in (1, 2):
        customer = make_party(session, reference=f"CUST-{number}")
        make_contact(session, customer, "cmr-pod-processing", email=f"pod@c{number}.example")
        orders.append(make_order(session, customer))
    # The first order is also on a second trip: the upload reads both trips.
    trip, other = make_trip(session, orders=orders), make_trip(session, orders=orders[:1])
    generate_tasks(
        session=session,
        category=Category.TRIP,
        entity_ids=[trip.id, other.id],
        now=utcnow(),
        by="test",
    )
    session.commit()
    task = session.exec(select(Task).where(Task.entity_id == trip.id)).one()
    other_task = session.exec(select(Task).where(Task.entity_id == other.id)).one()

    with Session(session.get_bind()) as uploading:
        first = _upload(uploading, room, orders[0], "pod")
    assert first.opened == [other_task.id]
    with Session(session.get_bind()) as uploading:
        assert _upload(uploading, room, orders[1], "pod").opened == [task.id]
    session.expire_all()
    assert session.get_one(Task, task.id).status == TaskStatus.READY


def _queries(statements: list[str]) -> int:
    """Statements that are not the transaction's own BEGIN/COMMIT (SQLite's are not sent
    through the cursor; counting them would differ by engine)."""
    return sum(1 for text in statements if text.split()[0].upper() not in {"BEGIN", "COMMIT"})
