"""What each task category offers: fields, statuses, date fields, documents, roles.

The single source for condition fields, schedule statuses and dates, and the typed sample
values that template validation renders against (see `templates.sample_context`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from models.bookings import BookingStatus
from models.invoices import InvoiceKind, InvoiceStatus
from models.orders import OrderStatus
from models.parties import KNOWN_ROLES
from models.trips import TripStatus

SampleValue = str | bool | Decimal | dt.datetime


class FieldType(StrEnum):
    """The type of a category field, which decides the operators and values a condition takes."""

    STR = "str"
    BOOL = "bool"
    DECIMAL = "decimal"
    DATETIME = "datetime"
    COUNTRY = "country"
    LANGUAGE = "language"
    ENUM = "enum"


@dataclass(frozen=True)
class FieldSpec:
    """One field a condition can test, addressed as written in the file (`customer.country`)."""

    path: str
    type: FieldType
    sample: SampleValue
    choices: tuple[str, ...] = ()
    # The TMS may leave it empty (a nullable column): a template must not rely on it.
    optional: bool = False


@dataclass(frozen=True)
class CategorySpec:
    """A task category: its entity fields, its party and what its tasks may rely on."""

    name: str
    section: str
    fields: tuple[FieldSpec, ...]
    statuses: tuple[str, ...]
    date_fields: tuple[str, ...]
    party: str
    has_documents: bool
    has_trip_contacts: bool
    # Context objects an entity may have none of (`subcontractor` on a carrier's own trip).
    optional_objects: tuple[str, ...] = ()

    def field(self, path: str) -> FieldSpec | None:
        """The field at `path`, or None when the category has no such field."""
        return next((spec for spec in self.fields if spec.path == path), None)

    @property
    def field_paths(self) -> list[str]:
        return [spec.path for spec in self.fields]


# Qargo's ten contact roles plus "Client"; one list for the schema and the checks.
BUILTIN_ROLES = KNOWN_ROLES

DOCUMENT_TYPES = ("pod", "cmr", "other")


def _at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, minute, tzinfo=dt.UTC)


def _party(prefix: str, reference: str, name: str, country: str, language: str) -> list[FieldSpec]:
    timezone = {"BE": "Europe/Brussels", "NL": "Europe/Amsterdam"}.get(country, "Europe/Paris")
    return [
        FieldSpec(f"{prefix}.reference", FieldType.STR, reference),
        FieldSpec(f"{prefix}.name", FieldType.STR, name),
        FieldSpec(f"{prefix}.country", FieldType.COUNTRY, country),
        FieldSpec(f"{prefix}.language", FieldType.LANGUAGE, language),
        FieldSpec(f"{prefix}.timezone", FieldType.STR, timezone),
    ]


def _status(choices: tuple[str, ...], sample: str) -> FieldSpec:
    return FieldSpec("status", FieldType.ENUM, sample, choices)


# The models' enums are the one list; their order is the order statuses are reached in.
ORDER_STATUSES = tuple(OrderStatus)
BOOKING_STATUSES = tuple(BookingStatus)
TRIP_STATUSES = tuple(TripStatus)
INVOICE_STATUSES = tuple(InvoiceStatus)
INVOICE_KINDS = tuple(InvoiceKind)

ORDER = CategorySpec(
    name="order",
    section="orders",
    fields=(
        FieldSpec("reference", FieldType.STR, "ORD-1001"),
        _status(ORDER_STATUSES, "delivered"),
        FieldSpec("customer_reference", FieldType.STR, "PO-77812", optional=True),
        FieldSpec("pickup_country", FieldType.COUNTRY, "FR", optional=True),
        FieldSpec("delivery_country", FieldType.COUNTRY, "BE", optional=True),
        FieldSpec("international", FieldType.BOOL, True),
        FieldSpec("pickup_at", FieldType.DATETIME, _at(13, 7, 30), optional=True),
        FieldSpec("delivery_at", FieldType.DATETIME, _at(14, 9, 15), optional=True),
        FieldSpec("amount", FieldType.DECIMAL, Decimal("1250.00"), optional=True),
        FieldSpec("currency", FieldType.STR, "EUR", optional=True),
        FieldSpec("created_at", FieldType.DATETIME, _at(10, 16, 2)),
        *_party("customer", "CUST-042", "Brasserie Dupont", "BE", "fr"),
    ),
    statuses=ORDER_STATUSES,
    date_fields=("created_at", "pickup_at", "delivery_at"),
    party="customer",
    has_documents=True,
    has_trip_contacts=True,
)

BOOKING = CategorySpec(
    name="booking",
    section="bookings",
    fields=(
        FieldSpec("reference", FieldType.STR, "BKG-2001"),
        _status(BOOKING_STATUSES, "confirmed"),
        FieldSpec("external_reference", FieldType.STR, "SUB-5531", optional=True),
        FieldSpec("slot_start_at", FieldType.DATETIME, _at(13, 6), optional=True),
        FieldSpec("slot_end_at", FieldType.DATETIME, _at(13, 8), optional=True),
        FieldSpec("amount", FieldType.DECIMAL, Decimal("640.00"), optional=True),
        FieldSpec("currency", FieldType.STR, "EUR", optional=True),
        FieldSpec("created_at", FieldType.DATETIME, _at(11, 10, 45)),
        *_party("subcontractor", "SUB-007", "Transports Lefèvre", "FR", "fr"),
    ),
    statuses=BOOKING_STATUSES,
    date_fields=("created_at", "slot_start_at", "slot_end_at"),
    party="subcontractor",
    has_documents=False,
    has_trip_contacts=False,
    optional_objects=("subcontractor",),
)

TRIP = CategorySpec(
    name="trip",
    section="trips",
    fields=(
        FieldSpec("reference", FieldType.STR, "TRP-3001"),
        _status(TRIP_STATUSES, "started"),
        FieldSpec("vehicle", FieldType.STR, "AB-123-CD", optional=True),
        FieldSpec("driver_name", FieldType.STR, "Karim Benali", optional=True),
        FieldSpec("international", FieldType.BOOL, True),
        FieldSpec("start_at", FieldType.DATETIME, _at(13, 5, 45), optional=True),
        FieldSpec("end_at", FieldType.DATETIME, _at(14, 11), optional=True),
        FieldSpec("created_at", FieldType.DATETIME, _at(12, 14, 20)),
        # A trip run with the carrier's own trucks has no subcontractor.
        *_party("subcontractor", "SUB-007", "Transports Lefèvre", "FR", "fr"),
    ),
    statuses=TRIP_STATUSES,
    date_fields=("created_at", "start_at", "end_at"),
    party="subcontractor",
    has_documents=True,
    has_trip_contacts=True,
    optional_objects=("subcontractor",),
)

INVOICE = CategorySpec(
    name="invoice",
    section="invoices",
    fields=(
        FieldSpec("reference", FieldType.STR, "INV-4001"),
        FieldSpec("kind", FieldType.ENUM, "revenue", INVOICE_KINDS),
        _status(INVOICE_STATUSES, "issued"),
        FieldSpec("external_reference", FieldType.STR, "F2025-0312", optional=True),
        FieldSpec("amount", FieldType.DECIMAL, Decimal("1250.00")),
        FieldSpec("currency", FieldType.STR, "EUR"),
        FieldSpec("issued_at", FieldType.DATETIME, _at(15, 8), optional=True),
        FieldSpec(
            "due_at",
            FieldType.DATETIME,
            dt.datetime(2025, 4, 14, 23, 59, tzinfo=dt.UTC),
            optional=True,
        ),
        FieldSpec("created_at", FieldType.DATETIME, _at(15, 7, 55)),
        *_party("party", "CUST-042", "Brasserie Dupont", "BE", "fr"),
        FieldSpec("order.reference", FieldType.STR, "ORD-1001"),
    ),
    statuses=INVOICE_STATUSES,
    date_fields=("created_at", "issued_at", "due_at"),
    party="party",
    has_documents=False,
    has_trip_contacts=False,
    optional_objects=("order",),
)

CATEGORIES: dict[str, CategorySpec] = {spec.name: spec for spec in (ORDER, BOOKING, TRIP, INVOICE)}
SECTIONS: dict[str, CategorySpec] = {spec.section: spec for spec in CATEGORIES.values()}
