"""A groupage trip: each customer receives only its own orders' documents, by every path.

Six customers on one trip, two orders each, the same customer references PO-1 and PO-2
for every customer (external references overlap across parties) and one contact per
customer holding the role.
"""

from __future__ import annotations

import uuid

from sqlmodel import Session, select

from delivery.claims import claim_ready_tasks
from delivery.manual import prepare_run
from delivery.resend import resend_task
from delivery.sender import deliver_tasks
from lifecycle.entities import EntityRef
from lifecycle.generation import generate_tasks
from lifecycle.recalculation import recalculate_entity
from models import Category, Order, Task, TaskDefinition, TaskStatus, Trip, utcnow
from tests.factories import make_contact, make_order, make_party, make_trip
from tests.mailroom import TRIP_POD, Mailroom, pdf
from tests.servers import Received

CUSTOMERS = 6


def _groupage(room: Mailroom) -> tuple[Task, dict[str, dict[str, object]]]:
    """The trip's task, and per customer contact: its order references and POD bytes."""
    session = room.session
    expected: dict[str, dict[str, object]] = {}
    orders: list[Order] = []
    for number in range(CUSTOMERS):
        customer = make_party(session, name="Brasserie Dupont", reference=f"CUST-{number}")
        contact = make_contact(
            session, customer, "cmr-pod-processing", email=f"pod{number}@customer{number}.example"
        )
        mine = [make_order(session, customer, customer_reference=f"PO-{n}") for n in (1, 2)]
        orders += mine
        expected[contact.email] = {
            "references": {order.reference for order in mine},
            "pods": {order.reference: pdf(f"pod-{order.reference}") for order in mine},
        }
    trip = make_trip(session, orders=orders, contact_emails=["platform@trip.example"])
    generate_tasks(
        session=session, category=Category.TRIP, entity_ids=[trip.id], now=utcnow(), by="test"
    )
    session.commit()
    for order in orders:
        room.upload(order, "pod", pdf(f"pod-{order.reference}"))
    task = session.exec(select(Task).where(Task.entity_id == trip.id)).one()
    return task, expected


def _check_isolated(
    messages: list[Received], expected: dict[str, dict[str, object]], *, to: str | None = None
) -> None:
    """One e-mail per customer with its documents only, and one for the trip's contacts."""
    everything = {ref: data for spec in expected.values() for ref, data in spec["pods"].items()}  # type: ignore[attr-defined]
    by_customer = {}
    for received in messages:
        attached = {p.get_filename(): p.get_content() for p in received.message.iter_attachments()}
        references = {name.rsplit("-pod", 1)[0] for name in attached}
        body = received.message.get_body(("plain",)).get_content()
        owners = [email for email, spec in expected.items() if references <= spec["references"]]  # type: ignore[operator]
        if references == set(everything):
            assert received.rcpt_tos == (to or "platform@trip.example",)
            continue
        [owner] = owners  # the documents of one customer only
        assert received.rcpt_tos == (to or owner,)
        assert references == expected[owner]["references"]
        for name, data in attached.items():
            assert data == everything[name.rsplit("-pod", 1)[0]]
        others = set(everything) - references
        assert not any(reference in body for reference in others)
        by_customer[owner] = received
    assert len(by_customer) == CUSTOMERS
    assert len(messages) == CUSTOMERS + 1


def test_automatic_send_keeps_each_customer_to_its_own_documents(mailroom: Mailroom) -> None:
    mailroom.configure(orders="", trips=TRIP_POD)
    task, expected = _groupage(mailroom)

    mailroom.drain()

    _check_isolated(mailroom.sink.received, expected)
    assert mailroom.session.get_one(Task, task.id).status == TaskStatus.DONE


def test_resend_and_resend_to_one_address_stay_isolated(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    room.configure(orders="", trips=TRIP_POD)
    task, expected = _groupage(room)
    room.drain()
    room.sink.clear()

    resend_task(task_id=task.id, store=room.store, by="alice")
    _check_isolated(room.sink.received, expected)
    room.sink.clear()

    resend_task(task_id=task.id, store=room.store, by="alice", to="check@carrier.example")
    _check_isolated(room.sink.received, expected, to="check@carrier.example")


def test_a_hand_run_stays_isolated(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    room.configure(orders="", trips=TRIP_POD, execution="manual")
    # Created before the configuration: no task yet, as for an older trip.
    session = room.session
    task, expected = _groupage(room)
    session.delete(task)
    session.commit()
    definition = session.exec(select(TaskDefinition).where(TaskDefinition.key == "trip-pod")).all()[
        -1
    ]

    items = prepare_run(
        session=session,
        store=room.store,
        definition=definition,
        entities=[(task.entity_id, "T")],
        by="alice",
        now=utcnow(),
        dry_run=False,
    )
    session.commit()
    queued = [uuid.UUID(str(item.task_id)) for item in items if item.queued]
    with Session(session.get_bind()) as claims:
        ids = claim_ready_tasks(session=claims, now=utcnow(), by="alice", limit=10, task_ids=queued)
        claims.commit()
    deliver_tasks(task_ids=ids, store=room.store, by="alice")

    _check_isolated(room.sink.received, expected)


def test_recalculating_the_trip_keeps_each_customer_to_its_own(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    room.configure(orders="", trips=TRIP_POD)
    task, expected = _groupage(room)
    trip = room.session.get_one(Trip, task.entity_id)

    recalculate_entity(
        session=room.session, ref=EntityRef(Category.TRIP, trip.reference), now=utcnow(), by="t"
    )
    room.session.commit()
    room.drain()

    _check_isolated(room.sink.received, expected)


def test_another_customers_address_among_the_trip_contacts_gets_nothing_of_this_order(
    folder_mailroom: Mailroom,
) -> None:
    # The example data's groupage trip lists both customers' addresses as trip contacts.
    room = folder_mailroom
    room.configure()
    session = room.session
    first, second = make_party(session), make_party(session)
    make_contact(session, first, "cmr-pod-processing", email="pod@first.example")
    make_contact(session, second, "operations", email="desk@second.example")
    mine, theirs = make_order(session, first), make_order(session, second)
    make_trip(
        session,
        orders=[mine, theirs],
        contact_emails=["desk@second.example", "platform@trip.example"],
    )
    generate_tasks(
        session=session, category=Category.ORDER, entity_ids=[mine.id], now=utcnow(), by="t"
    )
    session.commit()
    room.upload(mine, "pod", pdf("pod"))
    room.upload(mine, "cmr", pdf("cmr"))

    room.drain()

    [received] = room.sink.received
    assert sorted(received.rcpt_tos) == ["platform@trip.example", "pod@first.example"]
