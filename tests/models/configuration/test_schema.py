"""The normalized configuration: defaults, offsets, stored form and definition order."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydantic import ValidationError

from models import Booking, Invoice, Order, Trip
from models.configuration import Configuration, load_configuration
from models.configuration.catalog import CATEGORIES
from models.configuration.scalars import format_offset, parse_offset

EXAMPLE = Path(__file__).parents[3] / "examples" / "tasks.yaml"


@pytest.fixture(scope="module")
def example() -> Configuration:
    return load_configuration(EXAMPLE)


@pytest.mark.parametrize(
    ("text", "delta", "canonical"),
    [
        ("-3d", dt.timedelta(days=-3), "-3d"),
        ("+2h", dt.timedelta(hours=2), "+2h"),
        ("+30m", dt.timedelta(minutes=30), "+30m"),
        ("1d2h", dt.timedelta(days=1, hours=2), "+1d2h"),
        ("1d 2h 5m", dt.timedelta(days=1, hours=2, minutes=5), "+1d2h5m"),
        ("0", dt.timedelta(), "0"),
        (0, dt.timedelta(), "0"),
    ],
)
def test_offsets_parse_and_format(text: str | int, delta: dt.timedelta, canonical: str) -> None:
    assert parse_offset(text) == delta
    assert format_offset(delta) == canonical


@pytest.mark.parametrize("text", ["3 days", "2h-1m", "+", "", "d", "1.5h", 90, True, "1:30"])
def test_offsets_reject_garbage(text: object) -> None:
    with pytest.raises(ValueError, match="is not an offset"):
        parse_offset(text)


def test_definitions_follow_categories_then_configured_order(example: Configuration) -> None:
    entries = [(e.category, e.position, e.definition.key) for e in example.definitions()]

    assert entries == [
        ("order", 0, "send-pod-manual"),
        ("order", 1, "send-pod"),
        ("order", 2, "check-delivery"),
        ("order", 3, "customs-check"),
        ("booking", 0, "confirm-booking"),
        ("trip", 0, "departure-notice"),
        ("trip", 1, "download-tachograph"),
        ("invoice", 0, "payment-reminder"),
        ("invoice", 1, "check-purchase-invoice"),
    ]


def test_example_carries_an_automatic_and_a_manual_task(example: Configuration) -> None:
    manual = example.definition("send-pod-manual")
    automatic = example.definition("send-pod")
    assert manual is not None and automatic is not None

    assert manual.definition.execution == "manual"
    assert manual.definition.schedule.on == "status"
    assert manual.definition.mailbox is None
    assert manual.definition.required_documents == ()
    assert automatic.definition.execution == "automatic"
    assert automatic.definition.schedule.on == "documents"
    assert automatic.definition.intended_for.trip_contacts
    assert automatic.definition.required_documents == ("pod", "cmr")
    assert automatic.definition.attachments == ("pod", "cmr")
    assert automatic.definition.email is not None
    assert set(automatic.definition.email.languages) == {"fr", "en", "nl", "de"}


def test_template_files_are_inlined_and_their_paths_kept(example: Configuration) -> None:
    entry = example.definition("send-pod")
    assert entry is not None and entry.definition.email is not None
    french = entry.definition.email.languages["fr"]

    assert french.text_path == "templates/send-pod/fr.txt"
    assert french.text is not None and "{{ order.reference }}" in french.text
    assert french.html is not None and french.html.startswith("<p>")


def test_optional_fields_are_the_columns_a_tms_may_leave_empty() -> None:
    models = {"order": Order, "booking": Booking, "trip": Trip, "invoice": Invoice}
    for name, spec in CATEGORIES.items():
        columns = models[name].__table__.c  # type: ignore[attr-defined]
        own = [field.path for field in spec.fields if "." not in field.path]
        nullable = {path for path in own if path in columns and columns[path].nullable}
        assert {field.path for field in spec.fields if field.optional} == nullable, name


def test_stored_document_reads_back_to_the_same_configuration(example: Configuration) -> None:
    document = example.to_document()

    assert Configuration.model_validate(document) == example
    reminder = document["tasks"]["invoices"][0]
    assert reminder["schedule"] == {"on": "date", "date": "due_at", "offset": "+3d"}
    assert document["mailboxes"][0]["from"] == "Transports Martin <pod@transports-martin.example>"
    assert document["mailboxes"][0]["smtp"]["password_secret"] == "SMTP_POD_PASSWORD"


def test_configuration_is_frozen(example: Configuration) -> None:
    with pytest.raises(ValidationError, match="frozen"):
        example.fallback_role = "sales"  # type: ignore[misc]


def test_responsible_reference_is_split(example: Configuration) -> None:
    entry = example.definition("confirm-booking")
    assert entry is not None

    assert entry.definition.responsible_ref == ("user", "bruno")
    assert example.mailbox("billing") is not None
    assert example.mailbox("nope") is None
