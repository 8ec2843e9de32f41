"""Entity references and snapshots: the plain data every lifecycle rule reads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from core.errors import HaulflowError, NotFoundError
from lifecycle.entities import (
    EntityRef,
    EntitySnapshot,
    find_entity_id,
    load_snapshots,
    parse_entity_ref,
)
from models import Category, Document
from models.configuration.catalog import CATEGORIES
from tests.factories import (
    make_booking,
    make_invoice,
    make_order,
    make_party,
    make_trip,
)


def test_entity_refs_are_parsed() -> None:
    assert parse_entity_ref("order:ORD-1001") == EntityRef(Category.ORDER, "ORD-1001")
    assert parse_entity_ref(" Invoice:INV:7 ") == EntityRef(Category.INVOICE, "INV:7")
    assert str(parse_entity_ref("trip:TRP-1")) == "trip:TRP-1"


@pytest.mark.parametrize("text", ["ORD-1001", "order:", "parcel:P-1", ":ORD-1"])
def test_bad_entity_refs_say_the_expected_form(text: str) -> None:
    with pytest.raises(HaulflowError) as raised:
        parse_entity_ref(text)

    assert "write CATEGORY:REFERENCE, e.g. order:ORD-1001" in str(raised.value)
    assert "categories: order, booking, trip, invoice" in str(raised.value)


@pytest.mark.parametrize("text", ["order:" + "X" * 5000, "X" * 5000, "ordre" * 1000 + ":X"])
def test_a_long_entity_ref_is_shown_by_its_start_and_size(text: str) -> None:
    with pytest.raises(HaulflowError) as raised:
        parse_entity_ref(text)

    assert len(str(raised.value)) < 400 and "(5,00" in str(raised.value)


def test_a_reference_longer_than_any_stored_is_refused() -> None:
    assert parse_entity_ref("order:" + "X" * 64).reference == "X" * 64
    with pytest.raises(HaulflowError, match="a reference has at most 64 characters"):
        parse_entity_ref("order:" + "X" * 65)


def test_entities_are_found_by_reference_or_named_when_missing(session: Session) -> None:
    order = make_order(session, reference="ORD-1")

    assert find_entity_id(session=session, ref=parse_entity_ref("order:ORD-1")) == order.id
    with pytest.raises(NotFoundError, match="^order ORD-9 does not exist: import the order first"):
        find_entity_id(session=session, ref=parse_entity_ref("order:ORD-9"))
    with pytest.raises(NotFoundError, match="^trip ORD-1 does not exist: import the trip first"):
        find_entity_id(session=session, ref=parse_entity_ref("trip:ORD-1"))


def test_snapshots_hold_every_catalog_field_of_their_category(session: Session) -> None:
    subcontractor = make_party(session, kind="subcontractor", timezone="Europe/Brussels")
    order = make_order(session)
    entities = {
        Category.ORDER: order,
        Category.BOOKING: make_booking(session, subcontractor_id=subcontractor.id),
        Category.TRIP: make_trip(session, orders=[order]),
        Category.INVOICE: make_invoice(session, order_id=order.id),
    }

    for category, entity in entities.items():
        snapshots = load_snapshots(
            session=session, category=category, entity_ids=[entity.id], carrier_timezone="UTC"
        )
        fields = snapshots[entity.id].fields
        assert sorted(fields) == sorted(CATEGORIES[category.value].field_paths), category

    assert (
        load_snapshots(
            session=session,
            category=Category.ORDER,
            entity_ids=[uuid.uuid4()],
            carrier_timezone="UTC",
        )
        == {}
    )


def test_order_snapshot(session: Session) -> None:
    customer = make_party(session, country="BE", timezone="Europe/Brussels", reference="C-1")
    order = make_order(session, customer, pickup_country="FR", delivery_country="BE")
    make_trip(session, orders=[order], contact_emails=["b@trip.example", "a@trip.example"])
    session.add(_document(order.id, "pod"))
    session.flush()

    snapshot = _snapshot(session, Category.ORDER, order.id)

    assert snapshot.fields["international"] is True
    assert snapshot.fields["customer.country"] == "BE"
    assert snapshot.fields["customer.reference"] == "C-1"
    assert snapshot.timezone == "Europe/Brussels"
    assert snapshot.party_ids == (customer.id,)
    assert snapshot.trip_contact_emails == ("a@trip.example", "b@trip.example")
    assert snapshot.document_types == frozenset({"pod"})


def test_trip_snapshot_reaches_the_customers_and_documents_of_its_orders(
    session: Session,
) -> None:
    first, second = make_party(session), make_party(session)
    orders = [
        make_order(session, first, reference="ORD-A", pickup_country="FR", delivery_country="FR"),
        make_order(session, second, reference="ORD-B", pickup_country="FR", delivery_country="FR"),
    ]
    own = make_trip(session, orders=orders, contact_emails=["driver@trip.example"])
    # A type counts for the trip only once every order it carries has it.
    session.add_all(
        [_document(orders[0].id, "pod"), _document(orders[1].id, "cmr")]
        + [_document(order.id, "other") for order in orders]
    )
    session.flush()

    snapshot = _snapshot(session, Category.TRIP, own.id)

    assert snapshot.party_ids == (first.id, second.id)
    assert snapshot.fields["international"] is False
    assert snapshot.fields["subcontractor.name"] is None
    assert snapshot.timezone == "America/Montreal"  # the carrier's: no subcontractor
    assert snapshot.trip_contact_emails == ("driver@trip.example",)
    assert snapshot.document_types == frozenset({"other"})


def test_invoice_and_booking_snapshots(session: Session) -> None:
    party = make_party(session, timezone="Europe/Amsterdam")
    order = make_order(session, reference="ORD-7")
    invoice = _snapshot(
        session, Category.INVOICE, make_invoice(session, party, order_id=order.id).id
    )
    booking = _snapshot(session, Category.BOOKING, make_booking(session).id)

    assert (invoice.fields["order.reference"], invoice.timezone) == ("ORD-7", "Europe/Amsterdam")
    assert invoice.party_ids == (party.id,)
    assert (booking.party_ids, booking.timezone) == ((), "America/Montreal")


def _snapshot(session: Session, category: Category, entity_id: uuid.UUID) -> EntitySnapshot:
    return load_snapshots(
        session=session,
        category=category,
        entity_ids=[entity_id],
        carrier_timezone="America/Montreal",
    )[entity_id]


def _document(order_id: uuid.UUID, kind: str) -> Document:
    return Document(
        order_id=order_id,
        type=kind,
        storage_key=f"documents/{uuid.uuid4()}.pdf",
        filename="scan.pdf",
        content_type="application/pdf",
        size=10,
        sha256="0" * 64,
        source="test",
        uploaded_at=datetime(2026, 12, 2, tzinfo=UTC),
    )
