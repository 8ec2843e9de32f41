"""`import_file` upserts what a file describes, records status history and local times."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import Session, col, func, select

from core.errors import InvalidFileError
from core.settings import get_settings
from ingestion.importer import ImportReport, import_file
from models import (
    Booking,
    Category,
    Contact,
    ContactRole,
    Document,
    Invoice,
    Order,
    StatusChange,
    Trip,
    TripContact,
    TripOrder,
    TripStop,
)

# Each test also runs with every item in a chunk of its own.
pytestmark = pytest.mark.usefixtures("every_chunk_size")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "entities.yaml"

ImportText = Callable[..., ImportReport]
CountRows = Callable[[Session], dict[str, int]]

ACME = """
parties:
  - reference: ACME
    kind: customer
    name: ACME SA
    country: FR
    language: fr
    timezone: Europe/Paris
"""


def test_example_file_imports(session: Session, count_rows: CountRows) -> None:
    report = import_file(EXAMPLE, session=session, by="alice")
    session.commit()

    counts = {kind: (c.created, c.updated, c.unchanged) for kind, c in report.counts.items()}
    assert counts == {
        "parties": (4, 0, 0),
        "contacts": (10, 0, 0),
        "users": (2, 0, 0),
        "orders": (5, 0, 0),
        "bookings": (1, 0, 0),
        "trips": (2, 0, 0),
        "invoices": (2, 0, 0),
    }
    assert {category: len(ids) for category, ids in report.created.items()} == {
        Category.ORDER: 5,
        Category.BOOKING: 1,
        Category.TRIP: 2,
        Category.INVOICE: 2,
    }
    rows = count_rows(session)
    assert rows["status_changes"] == 10
    assert rows["trip_orders"] == 3  # the groupage trip carries two customers' orders
    assert rows["trip_stops"] == 6
    changes = session.exec(select(StatusChange)).all()
    assert {(c.from_status, c.changed_by) for c in changes} == {(None, "alice")}


def test_reimporting_the_example_changes_nothing(session: Session, count_rows: CountRows) -> None:
    import_file(EXAMPLE, session=session, by="alice")
    session.commit()
    before = count_rows(session)
    stamps = {o.reference: o.updated_at for o in session.exec(select(Order)).all()}

    report = import_file(EXAMPLE, session=session, by="bruno")
    session.commit()

    assert all(c.created == c.updated == 0 for c in report.counts.values())
    assert report.counts["orders"].unchanged == 5
    assert all(not ids for ids in report.changed.values())
    assert count_rows(session) == before
    session.expire_all()
    assert {o.reference: o.updated_at for o in session.exec(select(Order)).all()} == stamps


def test_status_change_is_recorded_only_when_the_status_changes(
    session: Session, import_text: ImportText
) -> None:
    order = "orders:\n  - {{reference: ORD-1, customer: ACME, status: {0}, amount: '{1}',"
    order += " currency: EUR}}\n"
    import_text(ACME + order.format("planned", "100"))

    report = import_text(ACME + order.format("delivered", "100"), by="bruno")
    row = session.exec(select(Order)).one()
    assert report.changed[Category.ORDER] == [row.id]
    history = session.exec(select(StatusChange).order_by(col(StatusChange.changed_at))).all()
    assert [(c.from_status, c.to_status, c.changed_by) for c in history] == [
        (None, "planned", "tester"),
        ("planned", "delivered", "bruno"),
    ]

    report = import_text(ACME + order.format("delivered", "120.50"))
    assert report.counts["orders"].updated == 1
    assert session.exec(select(func.count()).select_from(StatusChange)).one() == 2
    session.refresh(row)
    assert row.amount == Decimal("120.50")


def test_left_out_keys_keep_their_values_and_null_clears(
    session: Session, import_text: ImportText
) -> None:
    import_text(
        ACME
        + """
orders:
  - reference: ORD-1
    customer: ACME
    customer_reference: PO-1
    pickup: {country: FR, at: "2026-12-01T08:00"}
    amount: "10.00"
    currency: EUR
"""
    )
    import_text(ACME + "orders:\n  - {reference: ORD-1, customer: ACME, amount: null}")

    row = session.exec(select(Order)).one()
    session.refresh(row)
    assert (row.customer_reference, row.pickup_country, row.amount) == ("PO-1", "FR", None)
    assert row.status == "planned"


@pytest.mark.parametrize(
    ("local", "utc"),
    [("2026-01-15T08:00", "2026-01-15T07:00"), ("2026-07-15T08:00", "2026-07-15T06:00")],
    ids=["winter", "summer"],
)
def test_naive_times_are_local_to_the_customer(
    session: Session, import_text: ImportText, local: str, utc: str
) -> None:
    import_text(ACME + f"orders:\n  - {{reference: O, customer: ACME, pickup: {{at: '{local}'}}}}")

    row = session.exec(select(Order)).one()
    session.refresh(row)
    assert row.pickup_at == datetime.fromisoformat(utc).replace(tzinfo=UTC)


def test_offsets_win_and_own_trips_use_the_carrier_timezone(
    session: Session, import_text: ImportText, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAULFLOW_TIMEZONE", "America/New_York")
    get_settings.cache_clear()
    import_text(
        ACME
        + """
orders:
  - {reference: O, customer: ACME, delivery: {at: "2026-01-15T08:00:00+03:00"}}
trips:
  - {reference: T, start_at: "2026-01-15T08:00"}
"""
    )
    order, trip = session.exec(select(Order)).one(), session.exec(select(Trip)).one()
    assert order.delivery_at == datetime(2026, 1, 15, 5, 0, tzinfo=UTC)
    assert trip.start_at == datetime(2026, 1, 15, 13, 0, tzinfo=UTC)


def test_contacts_are_upserted_and_unlisted_ones_kept(
    session: Session, import_text: ImportText
) -> None:
    contacts = "    contacts:\n      - {{email: {0}, roles: [{1}]}}\n"
    import_text(ACME + contacts.format("Ops@ACME.example", "operations, billing"))
    import_text(ACME + contacts.format("other@acme.example", "billing"))
    report = import_text(ACME + contacts.format("ops@acme.example", "customs"))

    assert (report.counts["contacts"].updated, report.counts["parties"].unchanged) == (1, 1)
    emails = {c.email: c.id for c in session.exec(select(Contact)).all()}
    assert set(emails) == {"ops@acme.example", "other@acme.example"}
    roles = {(r.contact_id, r.role_key) for r in session.exec(select(ContactRole)).all()}
    assert roles == {
        (emails["ops@acme.example"], "customs"),
        (emails["other@acme.example"], "billing"),
    }


def test_trip_stops_are_matched_by_position(session: Session, import_text: ImportText) -> None:
    trip = """
orders:
  - {reference: O1, customer: ACME}
  - {reference: O2, customer: ACME}
trips:
  - reference: T
    contact_emails: [a@acme.example]
    orders: [O2]
    stops:
"""
    stops = [
        "      - {kind: pickup, order: O1, city: Lille}\n",
        "      - {kind: delivery, order: O1, city: Lyon}\n",
        "      - {kind: delivery, order: O2, city: Nice}\n",
    ]
    import_text(ACME + trip + "".join(stops))
    first = {s.sequence: s.id for s in session.exec(select(TripStop)).all()}
    pod = Document(
        order_id=session.exec(select(Order).where(Order.reference == "O1")).one().id,
        trip_stop_id=first[2],
        type="pod",
        storage_key="pod/1.pdf",
        filename="pod.pdf",
        content_type="application/pdf",
        size=1,
        sha256="0" * 64,
        source="test",
    )
    session.add(pod)
    session.commit()

    changed = stops[1].replace("Lyon", "Lyon 7e")
    report = import_text(ACME + trip.replace("orders: [O2]", "orders: []") + stops[0] + changed)

    assert report.counts["trips"].updated == 1
    kept = session.exec(select(TripStop).order_by(col(TripStop.sequence))).all()
    assert [(s.id, s.city) for s in kept] == [(first[1], "Lille"), (first[2], "Lyon 7e")]
    carried = session.exec(select(TripOrder)).all()
    assert {o.order_id for o in carried} == {pod.order_id}
    assert session.exec(select(TripContact.email)).all() == ["a@acme.example"]

    with pytest.raises(InvalidFileError, match=r"stop 2 has documents attached"):
        import_text(ACME + trip + stops[0])


def test_booking_and_invoice_links(session: Session, import_text: ImportText) -> None:
    import_text(
        ACME
        + """
  - {reference: SUB, kind: subcontractor, name: Sub, country: BE, language: nl,
     timezone: Europe/Brussels}
orders:
  - {reference: O1, customer: ACME}
bookings:
  - {reference: B1, subcontractor: SUB, external_reference: X-9, orders: [O1, O1]}
invoices:
  - {reference: I1, kind: revenue, party: ACME, order: O1, amount: 10, currency: EUR}
  - {reference: C1, kind: credit_note, party: ACME, credits: I1, amount: "-10", currency: EUR}
"""
    )
    booking = session.exec(select(Booking)).one()
    assert booking.external_reference == "X-9"
    credit = session.exec(select(Invoice).where(Invoice.reference == "C1")).one()
    invoice = session.exec(select(Invoice).where(Invoice.reference == "I1")).one()
    assert (credit.credited_invoice_id, credit.amount) == (invoice.id, Decimal("-10"))


def test_a_credit_note_may_come_before_the_invoice_it_credits(
    session: Session, import_text: ImportText
) -> None:
    import_text(
        ACME
        + """
invoices:
  - {reference: C1, kind: credit_note, party: ACME, credits: I1, amount: "-10", currency: EUR}
  - {reference: I1, kind: revenue, party: ACME, amount: 10, currency: EUR}
"""
    )
    credit = session.exec(select(Invoice).where(Invoice.reference == "C1")).one()
    invoice = session.exec(select(Invoice).where(Invoice.reference == "I1")).one()
    assert credit.credited_invoice_id == invoice.id


def test_json_files_import(session: Session, write_file: Callable[..., Path]) -> None:
    text = """{"parties": [{"reference": "ACME", "kind": "customer", "name": "ACME",
        "country": "FR", "language": "fr", "timezone": "Europe/Paris"}]}"""
    report = import_file(write_file(text, "entities.json"), session=session, by="tester")
    assert report.counts["parties"].created == 1


def test_a_reference_with_a_line_break_is_quoted_in_its_message_never_printed_raw(
    session: Session, import_text: ImportText
) -> None:
    forged = "ORD-1\\nother.yaml:1: all good"  # a second line that reads as another message
    with pytest.raises(InvalidFileError) as refused:
        import_text(ACME + f'orders:\n  - {{reference: "{forged}", customer: ACME}}\n')

    [line] = str(refused.value).splitlines()
    quoted = "'ORD-1\\nother.yaml:1: all good'"
    assert f": order {quoted}: reference: {quoted} contains the invisible U+000A LINE FEED" in line


def test_an_item_with_a_wrong_field_has_its_references_checked_in_the_same_run(
    session: Session, import_text: ImportText
) -> None:
    with pytest.raises(InvalidFileError) as refused:
        import_text(
            ACME
            + "orders:\n"
            + "  - {reference: ORD-1, customer: ACMEE, status: plannd}\n"
            + "  - {reference: ORD-2, customer: ACME, status: plannd}\n"
            + "bookings:\n"
            + "  - {reference: BK-1, orders: [ORD-1, ORD-404], subcontractor: NOBODY,"
            + " status: wrong}\n"
        )

    messages = [problem.message for problem in refused.value.problems]
    assert (
        "order ORD-1: customer 'ACMEE' is neither in this file nor in the database; "
        "add it under parties"
    ) in messages
    assert sum("'plannd' is not allowed" in message for message in messages) == 2
    # ORD-1 is in the file (broken, reported above): only ORD-404 and NOBODY are unknown.
    assert [m for m in messages if m.startswith("booking BK-1") and "neither" in m] == [
        "booking BK-1: order 'ORD-404' is neither in this file nor in the database; "
        "add it under orders",
        "booking BK-1: subcontractor 'NOBODY' is neither in this file nor in the database; "
        "add it under parties",
    ]
    assert not any("ORD-2: customer" in message for message in messages)
    assert session.exec(select(Order)).all() == []
