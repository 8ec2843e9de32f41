"""Load, in a few batched queries, every stored row one chunk of an import touches."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlmodel import Session, SQLModel, select

from core.batches import in_chunks
from ingestion.parsing import ParsedFile
from ingestion.schema import SECTIONS
from models import (
    Booking,
    BookingOrder,
    Contact,
    ContactRole,
    Document,
    Invoice,
    Order,
    Party,
    Role,
    Trip,
    TripContact,
    TripOrder,
    TripStop,
    User,
)

R = TypeVar("R", bound=SQLModel)

# Section → (table, party key in the file, its column, the party's own reference: key and
# column share the name). These references are unique per party, not globally.
EXTERNAL_REFERENCES: dict[str, tuple[type[Order | Booking | Invoice], str, str, str]] = {
    "orders": (Order, "customer", "customer_id", "customer_reference"),
    "bookings": (Booking, "subcontractor", "subcontractor_id", "external_reference"),
    "invoices": (Invoice, "party", "party_id", "external_reference"),
}


@dataclass
class Stored:
    """Rows already in the database, indexed the way the checks and upserts look them up."""

    parties: dict[str, Party] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    bookings: dict[str, Booking] = field(default_factory=dict)
    trips: dict[str, Trip] = field(default_factory=dict)
    invoices: dict[str, Invoice] = field(default_factory=dict)
    roles: set[str] = field(default_factory=set)
    # Party id → email → contact; contact id → role key → row.
    contacts: dict[uuid.UUID, dict[str, Contact]] = field(default_factory=dict)
    contact_roles: dict[uuid.UUID, dict[str, ContactRole]] = field(default_factory=dict)
    booking_orders: dict[uuid.UUID, dict[uuid.UUID, BookingOrder]] = field(default_factory=dict)
    trip_orders: dict[uuid.UUID, dict[uuid.UUID, TripOrder]] = field(default_factory=dict)
    trip_contacts: dict[uuid.UUID, dict[str, TripContact]] = field(default_factory=dict)
    trip_stops: dict[uuid.UUID, list[TripStop]] = field(default_factory=dict)
    documented_stops: set[uuid.UUID] = field(default_factory=set)
    # Section → (party id, party's reference) → the carrier's reference of the row holding it.
    external: dict[str, dict[tuple[uuid.UUID, str], str]] = field(default_factory=dict)


def load_rows(session: Session, model: type[R], column: str, values: Iterable[Any]) -> list[R]:
    """Every row of `model` whose `column` is one of `values`, in chunked IN queries."""
    attribute = getattr(model, column)
    rows: list[R] = []
    for batch in in_chunks(sorted(set(values), key=str)):
        rows.extend(session.exec(select(model).where(attribute.in_(batch))).all())
    return rows


def load_stored(*, session: Session, parsed: ParsedFile) -> Stored:
    """What the checks and upserts of the items in `parsed` (one chunk) need from the database."""
    stored = Stored(roles=set(session.exec(select(Role.key)).all()))
    stored.parties = _load_by_key(session, Party, "reference", _collect_party_keys(parsed))
    stored.users = _load_by_key(session, User, "username", _collect_keys(parsed, "users"))
    stored.orders = _load_by_key(session, Order, "reference", _collect_order_keys(parsed))
    stored.bookings = _load_by_key(session, Booking, "reference", _collect_keys(parsed, "bookings"))
    stored.trips = _load_by_key(session, Trip, "reference", _collect_keys(parsed, "trips"))
    credited = {entry.item.credits for entry in parsed.invoices if entry.item.credits}
    stored.invoices = _load_by_key(
        session, Invoice, "reference", _collect_keys(parsed, "invoices") | credited
    )
    # A booking or trip that leaves out its subcontractor keeps the stored one: its timezone
    # reads the file's local times.
    known = {party.id for party in stored.parties.values()}
    kept = {row.subcontractor_id for row in stored.bookings.values()}
    kept |= {row.subcontractor_id for row in stored.trips.values()}
    for party in load_rows(session, Party, "id", kept - known - {None}):
        stored.parties[party.reference] = party
    _load_contacts(session, parsed, stored)
    _load_bookings_orders(session, parsed, stored)
    _load_trip_details(session, parsed, stored)
    _load_external(session, parsed, stored)
    return stored


def _load_by_key(session: Session, model: type[R], column: str, values: set[str]) -> dict[str, R]:
    return {getattr(row, column): row for row in load_rows(session, model, column, values)}


def _collect_keys(parsed: ParsedFile, section: str) -> set[str]:
    key_name = SECTIONS[section][2]
    return {getattr(entry.item, key_name) for entry in getattr(parsed, section)}


def _collect_party_keys(parsed: ParsedFile) -> set[str]:
    keys = _collect_keys(parsed, "parties") | {e.item.customer for e in parsed.orders}
    keys |= {e.item.party for e in parsed.invoices}
    keys |= {e.item.subcontractor for e in parsed.bookings if e.item.subcontractor}
    keys |= {e.item.subcontractor for e in parsed.trips if e.item.subcontractor}
    for broken in parsed.broken:
        references = broken.references
        keys.update(
            references[name]
            for name in ("customer", "subcontractor", "party")
            if name in references
        )
    return keys


def _collect_order_keys(parsed: ParsedFile) -> set[str]:
    keys = _collect_keys(parsed, "orders") | {e.item.order for e in parsed.invoices if e.item.order}
    for booking in parsed.bookings:
        keys.update(booking.item.orders)
    for trip in parsed.trips:
        keys.update(trip.item.orders)
        keys.update(stop.order for stop in trip.item.stops if stop.order)
    for broken in parsed.broken:
        keys.update(broken.references.get("orders", []))
        if "order" in broken.references:
            keys.add(broken.references["order"])
    return keys


def _load_contacts(session: Session, parsed: ParsedFile, stored: Stored) -> None:
    party_ids = [
        stored.parties[e.item.reference].id
        for e in parsed.parties
        if e.item.contacts and e.item.reference in stored.parties
    ]
    contacts = load_rows(session, Contact, "party_id", party_ids)
    for contact in contacts:
        stored.contacts.setdefault(contact.party_id, {})[contact.email] = contact
    for role in load_rows(session, ContactRole, "contact_id", [c.id for c in contacts]):
        stored.contact_roles.setdefault(role.contact_id, {})[role.role_key] = role


def _load_bookings_orders(session: Session, parsed: ParsedFile, stored: Stored) -> None:
    ids = [
        stored.bookings[e.item.reference].id
        for e in parsed.bookings
        if e.item.reference in stored.bookings
    ]
    for link in load_rows(session, BookingOrder, "booking_id", ids):
        stored.booking_orders.setdefault(link.booking_id, {})[link.order_id] = link


def _load_trip_details(session: Session, parsed: ParsedFile, stored: Stored) -> None:
    trips = [
        (e.item, stored.trips[e.item.reference])
        for e in parsed.trips
        if e.item.reference in stored.trips
    ]
    ids = [trip.id for _, trip in trips]
    for link in load_rows(session, TripOrder, "trip_id", ids):
        stored.trip_orders.setdefault(link.trip_id, {})[link.order_id] = link
    for contact in load_rows(session, TripContact, "trip_id", ids):
        stored.trip_contacts.setdefault(contact.trip_id, {})[contact.email] = contact
    for stop in sorted(load_rows(session, TripStop, "trip_id", ids), key=lambda s: s.sequence):
        stored.trip_stops.setdefault(stop.trip_id, []).append(stop)
    # Only the stops a file removes (it lists fewer) need their documents checked.
    removed = [
        stop.id
        for item, trip in trips
        if "stops" in item.model_fields_set
        for stop in stored.trip_stops.get(trip.id, [])[len(item.stops) :]
    ]
    documents = load_rows(session, Document, "trip_stop_id", removed)
    stored.documented_stops = {d.trip_stop_id for d in documents if d.trip_stop_id is not None}


def _load_external(session: Session, parsed: ParsedFile, stored: Stored) -> None:
    # The file's values and the stored values of the file's rows (a key left out keeps them).
    for section, (model, _, party_column, column) in EXTERNAL_REFERENCES.items():
        rows: dict[str, Any] = getattr(stored, section)
        values = {getattr(entry.item, column) for entry in getattr(parsed, section)}
        values |= {
            getattr(rows[key], column) for key in _collect_keys(parsed, section) if key in rows
        }
        values.discard(None)
        # Only these parties' holders matter (the checks look up no other), and naming them
        # lets the database use its (party, reference) unique index instead of a scan.
        parties = {party.id for party in stored.parties.values()}
        parties |= {getattr(row, party_column) for row in rows.values()} - {None}
        attribute, party = getattr(model, column), getattr(model, party_column)
        query = select(model.reference, party, attribute).where(party.in_(sorted(parties)))
        index: dict[tuple[uuid.UUID, str], str] = {}
        for batch in in_chunks(sorted(values)) if parties else []:
            for reference, party_id, value in session.exec(query.where(attribute.in_(batch))):
                index[(party_id, value)] = reference
        stored.external[section] = index
