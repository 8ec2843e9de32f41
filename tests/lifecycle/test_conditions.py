"""Creation conditions: declarative comparisons read as the field's type, all/any nesting."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import Session

from lifecycle.conditions import matches
from models import Category
from tests.factories import make_invoice, make_order, make_party, make_trip
from tests.lifecycle.support import Configure, Generate, tasks_of

FIELDS: dict[str, Any] = {
    "reference": "ORD-1001",
    "status": "delivered",
    "customer.country": "BE",
    "international": True,
    "amount": Decimal("1250.00"),
    "delivery_at": datetime(2026, 3, 14, 9, 15, tzinfo=UTC),
    "customer_reference": None,
}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (None, True),
        ({"field": "customer.country", "op": "eq", "value": "BE"}, True),
        ({"field": "customer.country", "op": "eq", "value": "be"}, False),
        ({"field": "customer.country", "op": "ne", "value": "FR"}, True),
        ({"field": "customer.country", "op": "in", "value": ["FR", "BE"]}, True),
        ({"field": "customer.country", "op": "not_in", "value": ["FR", "BE"]}, False),
        ({"field": "international", "op": "eq", "value": True}, True),
        ({"field": "amount", "op": "gt", "value": 1000}, True),
        ({"field": "amount", "op": "gt", "value": "1250"}, False),
        ({"field": "amount", "op": "gte", "value": 1250.0}, True),
        ({"field": "amount", "op": "eq", "value": "1250"}, True),
        ({"field": "delivery_at", "op": "lt", "value": "2026-03-14T10:15:00+01:00"}, False),
        ({"field": "delivery_at", "op": "lte", "value": "2026-03-14T10:15:00+01:00"}, True),
        # A date-time without offset is local to the entity (here Europe/Paris, UTC+1).
        ({"field": "delivery_at", "op": "gte", "value": "2026-03-14T10:15"}, True),
        ({"field": "delivery_at", "op": "gt", "value": "2026-03-14"}, True),
        ({"field": "reference", "op": "contains", "value": "1001"}, True),
        ({"field": "reference", "op": "contains", "value": "ord"}, False),
        ({"field": "customer_reference", "op": "exists"}, False),
        ({"field": "customer_reference", "op": "exists", "value": False}, True),
        ({"field": "customer_reference", "op": "eq", "value": "PO-1"}, False),
        ({"field": "customer_reference", "op": "ne", "value": "PO-1"}, True),
        ({"field": "amount", "op": "gt", "value": "lots"}, False),
        ({"field": "customer.country", "op": "eq", "value": False}, False),
    ],
)
def test_comparisons_read_values_as_the_field_type(
    condition: dict[str, Any] | None, expected: bool
) -> None:
    assert matches(condition, FIELDS, timezone="Europe/Paris") is expected


def test_all_and_any_nest() -> None:
    belgian = {"field": "customer.country", "op": "eq", "value": "BE"}
    cheap = {"field": "amount", "op": "lt", "value": 100}
    delivered = {"field": "status", "op": "eq", "value": "delivered"}

    assert matches({"all": [belgian, {"any": [cheap, delivered]}]}, FIELDS)
    assert not matches({"all": [belgian, {"any": [cheap, {"all": [cheap, delivered]}]}]}, FIELDS)
    assert matches({"any": [cheap, {"all": [belgian, delivered]}]}, FIELDS)


def test_conditions_decide_which_entities_get_a_task(
    session: Session, configure: Configure, generate: Generate
) -> None:
    configure(
        """
        orders:
          - key: belgian-customers
            name: A
            conditions: {field: customer.country, op: eq, value: BE}
          - key: international-or-large
            name: B
            conditions:
              any:
                - {field: international, op: eq, value: true}
                - all:
                    - {field: amount, op: gte, value: 5000}
                    - {field: currency, op: eq, value: EUR}
        trips:
          - key: international-trip
            name: C
            conditions: {field: international, op: eq, value: true}
        invoices:
          - {key: large-invoice, name: D, conditions: {field: amount, op: gt, value: 1000}}
        """
    )
    belgian = make_party(session, country="BE", timezone="Europe/Brussels")
    domestic = make_order(session, belgian, pickup_country="BE", delivery_country="BE")
    large = make_order(
        session, pickup_country="FR", delivery_country="FR", amount=Decimal("5000.00")
    )
    abroad = make_order(session, pickup_country="FR", delivery_country="DE")
    trips = [make_trip(session, orders=[domestic]), make_trip(session, orders=[domestic, abroad])]
    invoices = [
        make_invoice(session, amount=Decimal("1000.00")),
        make_invoice(session, amount=Decimal("1000.01")),
    ]

    report = generate(Category.ORDER, domestic, large, abroad)
    generate(Category.TRIP, *trips)
    generate(Category.INVOICE, *invoices)

    assert sorted(tasks_of(session, domestic.id)) == ["belgian-customers"]
    assert sorted(tasks_of(session, large.id)) == ["international-or-large"]
    assert sorted(tasks_of(session, abroad.id)) == ["international-or-large"]
    assert report.not_matching == 3
    assert [sorted(tasks_of(session, trip.id)) for trip in trips] == [[], ["international-trip"]]
    assert [sorted(tasks_of(session, i.id)) for i in invoices] == [[], ["large-invoice"]]
