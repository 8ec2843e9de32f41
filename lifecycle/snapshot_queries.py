"""The queries behind `entities.load_snapshots`: a fixed few per chunk of entities.

Each loader takes one chunk of ids (at most `entities.CHUNK_SIZE`) and returns the snapshots
of the entities that exist, keyed by id; given the document types the caller has just read
(the document gate has), an order or trip loader does not read them again. Fields are named
as in `models.configuration.catalog`. Columns are selected, not ORM objects: building 10,000
objects cost more than the queries.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from lifecycle.snapshots import EntitySnapshot
from models import (
    Booking,
    Category,
    Document,
    Invoice,
    Order,
    Party,
    Trip,
    TripContact,
    TripOrder,
    TripStop,
)

# Per order (or trip), the document types it has recorded, as `recorded_document_types` reads them.
DocumentTypes = Mapping[uuid.UUID, frozenset[str]]
# (session, ids, carrier timezone, document types the caller has just read, or None)
SnapshotLoader = Callable[
    [Session, list[uuid.UUID], str, DocumentTypes | None], dict[uuid.UUID, EntitySnapshot]
]

_PARTY_FIELDS = ("reference", "name", "country", "language", "timezone")

# The entity's own catalog fields, read from the column of the same name.
_OWN_FIELDS: dict[Category, tuple[str, ...]] = {
    Category.ORDER: (
        "reference",
        "status",
        "customer_reference",
        "pickup_country",
        "delivery_country",
        "pickup_at",
        "delivery_at",
        "amount",
        "currency",
        "created_at",
    ),
    Category.BOOKING: (
        "reference",
        "status",
        "external_reference",
        "slot_start_at",
        "slot_end_at",
        "amount",
        "currency",
        "created_at",
    ),
    Category.TRIP: (
        "reference",
        "status",
        "vehicle",
        "driver_name",
        "start_at",
        "end_at",
        "created_at",
    ),
    Category.INVOICE: (
        "reference",
        "kind",
        "status",
        "external_reference",
        "amount",
        "currency",
        "issued_at",
        "due_at",
        "created_at",
    ),
}


def _select_entities(
    category: Category,
    model: type[Order | Booking | Trip | Invoice],
    party_column: Any,
    prefix: str,
    ids: list[uuid.UUID],
) -> sa.Select[Any]:
    """The entity's id and own fields with its party's fields as `PREFIX.NAME` (outer join)."""
    party = [getattr(Party, name).label(f"{prefix}.{name}") for name in _PARTY_FIELDS]
    return (
        sa.select(
            col(model.id),
            *(getattr(model, name) for name in _OWN_FIELDS[category]),
            col(Party.id).label("party_id"),
            *party,
        )
        .outerjoin(Party, col(Party.id) == party_column)
        .where(col(model.id).in_(ids))
    )


def _snapshot(
    category: Category,
    row: RowMapping,
    *,
    extra: Mapping[str, Any],
    timezone: str,
    **details: Any,
) -> EntitySnapshot:
    """A snapshot from a row of `_select_entities` and the derived fields in `extra`."""
    fields = {name: row[name] for name in _OWN_FIELDS[category]}
    fields |= {key: row[key] for key in row if "." in key}
    return EntitySnapshot(
        category=category,
        id=row["id"],
        reference=row["reference"],
        status=row["status"],
        created_at=row["created_at"],
        fields=fields | dict(extra),
        timezone=timezone,
        **details,
    )


def _is_international(countries: Iterable[str | None]) -> bool | None:
    known = {country for country in countries if country is not None}
    return len(known) > 1 if known else None


def _group(pairs: Iterable[tuple[uuid.UUID, Any]]) -> dict[uuid.UUID, list[Any]]:
    grouped: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for key, value in pairs:
        if value not in grouped[key]:
            grouped[key].append(value)
    return grouped


def load_orders(
    session: Session, ids: list[uuid.UUID], carrier_timezone: str, known: DocumentTypes | None
) -> dict[uuid.UUID, EntitySnapshot]:
    """Orders with their customer, the contacts of their trips and their document types."""
    statement = _select_entities(Category.ORDER, Order, Order.customer_id, "customer", ids)
    documents = (
        known if known is not None else recorded_document_types(session, Category.ORDER, ids)
    )
    contacts = _group(
        session.exec(
            select(TripOrder.order_id, TripContact.email)
            .join(TripContact, col(TripContact.trip_id) == TripOrder.trip_id)
            .join(Trip, col(Trip.id) == TripOrder.trip_id)
            .where(col(TripOrder.order_id).in_(ids))
            .order_by(col(Trip.created_at), col(Trip.reference), col(TripContact.email))
        ).all()
    )
    snapshots = {}
    for row in session.execute(statement).mappings():
        countries = (row["pickup_country"], row["delivery_country"])
        snapshots[row["id"]] = _snapshot(
            Category.ORDER,
            row,
            extra={"international": _is_international(countries) if all(countries) else None},
            timezone=row["customer.timezone"],
            party_ids=(row["party_id"],),
            trip_contact_emails=tuple(contacts.get(row["id"], ())),
            document_types=frozenset(documents.get(row["id"], ())),
        )
    return snapshots


def load_bookings(
    session: Session, ids: list[uuid.UUID], carrier_timezone: str, known: DocumentTypes | None
) -> dict[uuid.UUID, EntitySnapshot]:
    """Bookings with their subcontractor, if any (a booking has no documents: `known` is
    None)."""
    statement = _select_entities(
        Category.BOOKING, Booking, Booking.subcontractor_id, "subcontractor", ids
    )
    return {
        row["id"]: _snapshot(
            Category.BOOKING,
            row,
            extra={},
            timezone=row["subcontractor.timezone"] or carrier_timezone,
            party_ids=(row["party_id"],) if row["party_id"] is not None else (),
        )
        for row in session.execute(statement).mappings()
    }


def load_trips(
    session: Session, ids: list[uuid.UUID], carrier_timezone: str, known: DocumentTypes | None
) -> dict[uuid.UUID, EntitySnapshot]:
    """Trips with their subcontractor, the customers and documents of their orders."""
    statement = _select_entities(Category.TRIP, Trip, Trip.subcontractor_id, "subcontractor", ids)
    carried = session.exec(
        select(TripOrder.trip_id, Order.customer_id, Order.pickup_country, Order.delivery_country)
        .join(Order, col(Order.id) == TripOrder.order_id)
        .where(col(TripOrder.trip_id).in_(ids))
        .order_by(col(Order.reference))
    ).all()
    customers = _group((trip_id, customer_id) for trip_id, customer_id, _, _ in carried)
    countries = _group(
        (trip_id, country)
        for trip_id, _, pickup, delivery in carried
        for country in (pickup, delivery)
    )
    stops = session.exec(
        select(TripStop.trip_id, TripStop.country).where(col(TripStop.trip_id).in_(ids))
    ).all()
    for trip_id, country in stops:
        countries[trip_id].append(country)
    contacts = _group(
        session.exec(
            select(TripContact.trip_id, TripContact.email)
            .where(col(TripContact.trip_id).in_(ids))
            .order_by(col(TripContact.email))
        ).all()
    )
    documents = known if known is not None else recorded_document_types(session, Category.TRIP, ids)
    return {
        row["id"]: _snapshot(
            Category.TRIP,
            row,
            extra={"international": _is_international(countries.get(row["id"], ()))},
            timezone=row["subcontractor.timezone"] or carrier_timezone,
            party_ids=tuple(customers.get(row["id"], ())),
            trip_contact_emails=tuple(contacts.get(row["id"], ())),
            document_types=frozenset(documents.get(row["id"], ())),
        )
        for row in session.execute(statement).mappings()
    }


def recorded_document_types(
    session: Session, category: Category, ids: list[uuid.UUID]
) -> dict[uuid.UUID, frozenset[str]]:
    """The document types an order (or every order of a trip) has recorded, as its
    snapshot's `document_types` reads them, in one or two queries; orders and trips only."""
    if category is Category.TRIP:
        complete = _complete_document_types(session, ids)
        return {trip_id: frozenset(types) for trip_id, types in complete.items()}
    recorded = _group(
        session.exec(
            select(Document.order_id, Document.type).where(col(Document.order_id).in_(ids))
        ).all()
    )
    return {order_id: frozenset(types) for order_id, types in recorded.items()}


def _complete_document_types(
    session: Session, trip_ids: list[uuid.UUID]
) -> dict[uuid.UUID, set[str]]:
    """Per trip, the document types recorded for every one of its orders (a POD of one
    order does not make a groupage trip's POD complete)."""
    orders = _group(
        session.exec(
            select(TripOrder.trip_id, TripOrder.order_id).where(
                col(TripOrder.trip_id).in_(trip_ids)
            )
        ).all()
    )
    recorded = _group(
        session.exec(
            select(TripOrder.order_id, Document.type)
            .join(Document, col(Document.order_id) == TripOrder.order_id)
            .where(col(TripOrder.trip_id).in_(trip_ids))
        ).all()
    )
    return {
        trip_id: set.intersection(*(set(recorded.get(order_id, ())) for order_id in order_ids))
        for trip_id, order_ids in orders.items()
    }


def load_invoices(
    session: Session, ids: list[uuid.UUID], carrier_timezone: str, known: DocumentTypes | None
) -> dict[uuid.UUID, EntitySnapshot]:
    """Invoices with their party and the reference of the order they bill (an invoice has
    no documents: `known` is None)."""
    billed = aliased(Order)
    statement = (
        _select_entities(Category.INVOICE, Invoice, Invoice.party_id, "party", ids)
        .add_columns(col(billed.reference).label("order.reference"))
        .outerjoin(billed, col(billed.id) == Invoice.order_id)
    )
    return {
        row["id"]: _snapshot(
            Category.INVOICE,
            row,
            extra={},
            timezone=row["party.timezone"] or carrier_timezone,
            party_ids=(row["party_id"],),
        )
        for row in session.execute(statement).mappings()
    }


SNAPSHOT_LOADERS: dict[Category, SnapshotLoader] = {
    Category.ORDER: load_orders,
    Category.BOOKING: load_bookings,
    Category.TRIP: load_trips,
    Category.INVOICE: load_invoices,
}
