"""The document gate reads the database: a trip's task waits for every order's documents."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from core.database import engine_for
from ingestion.documents import record_document
from lifecycle.entities import EntityRef
from lifecycle.generation import generate_tasks
from models import Category, DocumentType, Task, TaskEvent, TaskStatus, utcnow
from storage.base import DocumentStore
from tests.factories import make_contact, make_order, make_party, make_trip
from tests.mailroom import TRIP_POD, Mailroom, pdf
from tests.servers import SmtpSink


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


def test_an_upload_reads_the_waiting_tasks_of_its_own_order_only(
    sqlite_database: str, folder_store: DocumentStore, smtp_sink: SmtpSink
) -> None:
    """SQLite keeps no statistics: the gate's query must name what an index can find, or
    SQLite reads every waiting task of the carrier for each upload (10,000 waiting: twice
    the cost of the upload itself)."""
    engine = engine_for(sqlite_database)
    with Session(engine, expire_on_commit=False) as session:
        room = Mailroom(session, folder_store, smtp_sink)
        room.configure()
        orders = [room.order() for _ in range(3)]
        sent: list[tuple[str, Any]] = []

        def record(*args: Any) -> None:
            sent.append((args[2], args[3]))

        sa.event.listen(engine, "before_cursor_execute", record)
        try:
            room.upload(orders[0], "pod", pdf("pod"))
        finally:
            sa.event.remove(engine, "before_cursor_execute", record)

    waiting = [(sql, params) for sql, params in sent if "FROM tasks" in sql and "status" in sql]
    assert waiting, "the upload asked for no waiting task"
    with engine.connect() as connection:
        for sql, params in waiting:
            plan = [
                row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
            ]
            searched = [line for line in plan if line.startswith(("SEARCH tasks", "SCAN tasks"))]
            assert searched == [
                "SEARCH tasks USING INDEX ix_tasks_entity_id_status (entity_id=? AND status=?)"
            ], plan
