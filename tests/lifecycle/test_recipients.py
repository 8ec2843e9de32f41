"""Recipients resolved at generation: roles, fallback, trip contacts, addresses, per party."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session

from lifecycle.entities import load_snapshots
from lifecycle.recipients import Resolution, resolve_recipients
from models import Category
from tests.factories import make_booking, make_contact, make_order, make_party, make_trip
from tests.lifecycle.support import Configure, Generate, events_of, tasks_of


def test_contacts_holding_the_roles_are_addressed_and_others_are_not(session: Session) -> None:
    customer = make_party(session, language="nl")
    make_contact(session, customer, "billing", email="billing@c.example")
    make_contact(session, customer, "operations", "customer", email="ops@c.example", name="Ops")
    make_contact(session, customer, email="boss@c.example")  # no role: never targeted
    make_contact(session, customer, "customer", email="desk@c.example", language="fr")
    order = make_order(session, customer)

    resolution = _resolve(session, order.id, {"roles": ["customer", "operations"]})

    assert resolution.recipients == [
        {
            "email": "desk@c.example",
            "name": None,
            "party_id": str(customer.id),
            "source": "role:customer",
            "language": "fr",
        },
        {
            "email": "ops@c.example",
            "name": "Ops",
            "party_id": str(customer.id),
            "source": "role:customer",
            "language": "nl",
        },
    ]
    assert resolution.unmatched_roles == []


def test_fallback_role_stands_in_when_no_contact_holds_a_requested_role(
    session: Session, configure: Configure, generate: Generate
) -> None:
    configure(
        "orders:\n  - {key: notify, name: Notify, intended_for: {roles: [customer]}}\n",
        fallback_role="operations",
    )
    customer = make_party(session)
    make_contact(session, customer, "operations", email="ops@c.example")
    order = make_order(session, customer)

    generate(Category.ORDER, order)

    task = tasks_of(session, order.id)["notify"]
    assert [(r["email"], r["source"]) for r in task.recipients] == [
        ("ops@c.example", "fallback:operations")
    ]
    assert events_of(session, task)[0].note == "configuration version 1"


def test_roles_nobody_holds_are_reported_in_the_creation_history(
    session: Session, configure: Configure, generate: Generate
) -> None:
    configure(
        "orders:\n  - {key: notify, name: Notify, intended_for: {roles: [customer, billing]}}\n"
    )
    customer = make_party(session)
    make_contact(session, customer, "customer", email="desk@c.example")
    order = make_order(session, customer)
    booking = make_booking(session)  # no subcontractor: nobody to address

    generate(Category.ORDER, order)

    task = tasks_of(session, order.id)["notify"]
    assert [r["email"] for r in task.recipients] == ["desk@c.example"]
    assert events_of(session, task)[0].note == ("configuration version 1; unmatched roles: billing")
    resolution = _resolve(session, booking.id, {"roles": ["operations"]}, Category.BOOKING)
    assert (resolution.recipients, resolution.unmatched_roles) == ([], ["operations"])


def test_fallback_finding_nobody_leaves_every_role_unmatched(session: Session) -> None:
    customer = make_party(session)
    make_contact(session, customer, "sales", email="sales@c.example")
    order = make_order(session, customer)

    resolution = _resolve(session, order.id, {"roles": ["customer"]}, fallback="operations")

    assert (resolution.recipients, resolution.unmatched_roles) == ([], ["customer"])


def test_trip_recipients_are_tagged_with_the_party_they_belong_to(session: Session) -> None:
    first, second = make_party(session), make_party(session)
    make_contact(session, first, "operations", email="ops@first.example")
    make_contact(session, second, "operations", email="ops@second.example")
    trip = make_trip(
        session,
        orders=[make_order(session, first), make_order(session, second)],
        contact_emails=["driver@trip.example"],
    )

    resolution = _resolve(
        session, trip.id, {"roles": ["operations"], "trip_contacts": True}, Category.TRIP
    )

    assert {(r["email"], r["party_id"], r["source"]) for r in resolution.recipients} == {
        ("ops@first.example", str(first.id), "role:operations"),
        ("ops@second.example", str(second.id), "role:operations"),
        ("driver@trip.example", None, "trip-contact"),
    }


def test_recipients_are_validated_lowercased_and_deduplicated_first_wins(
    session: Session,
) -> None:
    customer = make_party(session)
    make_contact(session, customer, "operations", email="Ops@C.example")
    order = make_order(session, customer)
    make_trip(session, orders=[order], contact_emails=["OPS@c.example", "not-an-address"])
    intended_for = {
        "roles": ["operations"],
        "trip_contacts": True,
        "addresses": ["Desk <desk@carrier.example>", "ops@c.example", "DESK@carrier.example"],
    }

    resolution = _resolve(session, order.id, intended_for)

    assert [(r["email"], r["source"], r["name"]) for r in resolution.recipients] == [
        ("ops@c.example", "role:operations", None),
        ("desk@carrier.example", "address", "Desk"),
    ]
    assert resolution.invalid_addresses == ["not-an-address"]


def _resolve(
    session: Session,
    entity_id: uuid.UUID,
    intended_for: dict[str, Any],
    category: Category = Category.ORDER,
    fallback: str | None = None,
) -> Resolution:
    snapshots = load_snapshots(
        session=session, category=category, entity_ids=[entity_id], carrier_timezone="UTC"
    )
    resolutions = resolve_recipients(
        session=session,
        intended_for=intended_for,
        snapshots=list(snapshots.values()),
        fallback_role=fallback,
    )
    return resolutions[entity_id]
