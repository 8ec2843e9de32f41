"""Factories for tests: `make_order(session, **overrides)` and friends, flushed not committed."""

from __future__ import annotations

import textwrap
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlmodel import Session

from core.sourcefile import parse_source
from models import (
    Booking,
    Category,
    Contact,
    ContactRole,
    Invoice,
    Order,
    Party,
    StatusChange,
    Task,
    TaskStatus,
    Trip,
    TripContact,
    TripOrder,
    TripStop,
)
from models.configuration import Configuration, validate_source
from models.configuration.store import ApplyReport, apply_configuration

REPO = Path(__file__).resolve().parents[1]


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8].upper()}"


def make_party(session: Session, **overrides: Any) -> Party:
    """A customer in Paris unless overridden."""
    values: dict[str, Any] = {
        "reference": _unique("CUST"),
        "kind": "customer",
        "name": "ACME Logistique",
        "country": "FR",
        "language": "fr",
        "timezone": "Europe/Paris",
    }
    party = Party(**(values | overrides))
    session.add(party)
    session.flush()
    return party


def make_contact(session: Session, party: Party, *roles: str, **overrides: Any) -> Contact:
    """A contact of `party` holding `roles`."""
    values: dict[str, Any] = {"email": f"{uuid.uuid4().hex[:10]}@customer.example"}
    contact = Contact(party_id=party.id, **(values | overrides))
    session.add(contact)
    session.flush()
    session.add_all(ContactRole(contact_id=contact.id, role_key=role) for role in roles)
    session.flush()
    return contact


def _with_history(session: Session, category: Category, entity: Any) -> None:
    session.add(entity)
    session.flush()
    session.add(
        StatusChange(
            category=category,
            entity_id=entity.id,
            to_status=entity.status,
            changed_at=entity.created_at,
            changed_by="factory",
        )
    )
    session.flush()


def make_order(session: Session, customer: Party | None = None, **overrides: Any) -> Order:
    """A planned FR→BE order of `customer` (a new customer when omitted)."""
    customer = customer or make_party(session)
    values: dict[str, Any] = {
        "reference": _unique("ORD"),
        "customer_id": customer.id,
        "status": "planned",
        "pickup_country": "FR",
        "delivery_country": "BE",
        "pickup_at": datetime(2026, 12, 1, 7, 0, tzinfo=UTC),
        "delivery_at": datetime(2026, 12, 2, 13, 0, tzinfo=UTC),
        "amount": Decimal("1250.00"),
        "currency": "EUR",
    }
    order = Order(**(values | overrides))
    _with_history(session, Category.ORDER, order)
    return order


def make_booking(session: Session, **overrides: Any) -> Booking:
    """A requested booking without subcontractor unless overridden."""
    values: dict[str, Any] = {
        "reference": _unique("BKG"),
        "status": "requested",
        "slot_start_at": datetime(2026, 12, 1, 6, 0, tzinfo=UTC),
    }
    booking = Booking(**(values | overrides))
    _with_history(session, Category.BOOKING, booking)
    return booking


def make_trip(
    session: Session,
    orders: list[Order] = (),  # type: ignore[assignment]
    contact_emails: list[str] = (),  # type: ignore[assignment]
    **overrides: Any,
) -> Trip:
    """A planned trip carrying `orders`, with a delivery stop per order and contact emails."""
    values: dict[str, Any] = {
        "reference": _unique("TRP"),
        "status": "planned",
        "start_at": datetime(2026, 12, 1, 5, 0, tzinfo=UTC),
    }
    trip = Trip(**(values | overrides))
    _with_history(session, Category.TRIP, trip)
    for sequence, order in enumerate(orders, start=1):
        session.add(TripOrder(trip_id=trip.id, order_id=order.id))
        session.add(
            TripStop(
                trip_id=trip.id,
                sequence=sequence,
                kind="delivery",
                order_id=order.id,
                country=order.delivery_country,
            )
        )
    session.add_all(TripContact(trip_id=trip.id, email=email) for email in contact_emails)
    session.flush()
    return trip


def make_invoice(session: Session, party: Party | None = None, **overrides: Any) -> Invoice:
    """An issued revenue invoice of 1,250 EUR due 2026-12-31."""
    party = party or make_party(session)
    values: dict[str, Any] = {
        "reference": _unique("INV"),
        "kind": "revenue",
        "party_id": party.id,
        "status": "issued",
        "issued_at": datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
        "due_at": datetime(2026, 12, 31, 22, 59, tzinfo=UTC),
        "amount": Decimal("1250.00"),
        "currency": "EUR",
    }
    invoice = Invoice(**(values | overrides))
    _with_history(session, Category.INVOICE, invoice)
    return invoice


def configuration_from_text(text: str, *, base_dir: Path = REPO / "examples") -> Configuration:
    """Validate YAML text as a configuration file; fail loudly with its problems."""
    source = parse_source(textwrap.dedent(text), file="test-config.yaml")
    configuration, problems = validate_source(source, base_dir=base_dir)
    assert configuration is not None, "\n".join(map(str, problems))
    return configuration


def apply_config(session: Session, text: str, *, by: str = "tester") -> ApplyReport:
    """Validate and apply configuration text as a new version."""
    return apply_configuration(
        session=session,
        configuration=configuration_from_text(text),
        source_name="test-config.yaml",
        source_sha256="0" * 64,
        by=by,
    )


def make_task(
    session: Session,
    entity: Order | Booking | Trip | Invoice,
    definition_id: uuid.UUID,
    definition_key: str,
    **overrides: Any,
) -> Task:
    """A task row on `entity` (prefer generation; this is for state a test sets up by hand)."""
    category = {Order: "order", Booking: "booking", Trip: "trip", Invoice: "invoice"}[type(entity)]
    values: dict[str, Any] = {
        "definition_id": definition_id,
        "definition_key": definition_key,
        "category": category,
        "entity_id": entity.id,
        "status": TaskStatus.OPEN,
    }
    task = Task(**(values | overrides))
    session.add(task)
    session.flush()
    return task
