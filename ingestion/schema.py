"""The import file format: one pydantic model per section item, unknown keys refused.

Keys left out of an item keep the stored value of an existing entity (and take their default
on a new one); `null` clears an optional value. Date-times without an offset are local times
of the entity's party (see `ingestion.importer`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ingestion.fields import (
    Amount,
    Country,
    Currency,
    Email,
    ExternalReference,
    Language,
    Name,
    Reference,
    RoleKey,
    Text100,
    Timestamp,
    TimezoneName,
    Username,
)
from models import (
    BookingStatus,
    InvoiceKind,
    InvoiceStatus,
    OrderStatus,
    PartyKind,
    StopKind,
    TripStatus,
)


class FileModel(BaseModel):
    """Base of every item: strict about keys, lenient about surrounding spaces."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class ContactIn(FileModel):
    """A person at a party, matched by email; `roles` replaces the roles they hold."""

    email: Email
    name: Name | None = None
    roles: list[RoleKey] = []
    language: Language | None = None


class PartyIn(FileModel):
    """A customer or subcontractor; listed contacts are upserted, others left alone."""

    reference: Reference
    kind: PartyKind
    name: Name
    country: Country
    language: Language
    timezone: TimezoneName
    contacts: list[ContactIn] = []


class UserIn(FileModel):
    """A person of the carrier."""

    username: Username
    name: Name
    email: Email | None = None
    active: bool = True


class PlaceIn(FileModel):
    """Where and when an order is picked up or delivered."""

    country: Country | None = None
    at: Timestamp | None = None


class OrderIn(FileModel):
    """A customer's transport order."""

    reference: Reference
    customer: Reference
    customer_reference: ExternalReference | None = None
    status: OrderStatus = OrderStatus.PLANNED
    pickup: PlaceIn | None = None
    delivery: PlaceIn | None = None
    amount: Amount | None = None
    currency: Currency | None = None


class BookingIn(FileModel):
    """Capacity reserved for orders, optionally with a subcontractor."""

    reference: Reference
    subcontractor: Reference | None = None
    external_reference: ExternalReference | None = None
    status: BookingStatus = BookingStatus.REQUESTED
    slot_start_at: Timestamp | None = None
    slot_end_at: Timestamp | None = None
    amount: Amount | None = None
    currency: Currency | None = None
    orders: list[Reference] = []


class StopIn(FileModel):
    """A pickup or delivery of a trip; its sequence is its position in the list."""

    kind: StopKind
    order: Reference | None = None
    name: Name | None = None
    city: Text100 | None = None
    country: Country | None = None
    planned_at: Timestamp | None = None
    completed_at: Timestamp | None = None


class TripIn(FileModel):
    """A vehicle's journey; it carries the orders of its stops plus those under `orders`."""

    reference: Reference
    subcontractor: Reference | None = None
    status: TripStatus = TripStatus.PLANNED
    vehicle: Reference | None = None
    driver_name: Name | None = None
    contact_emails: list[Email] = []
    start_at: Timestamp | None = None
    end_at: Timestamp | None = None
    stops: list[StopIn] = []
    orders: list[Reference] = []


class InvoiceIn(FileModel):
    """A revenue or purchase invoice, or a credit note (`credits` names the invoice)."""

    reference: Reference
    kind: InvoiceKind
    party: Reference
    external_reference: ExternalReference | None = None
    order: Reference | None = None
    credits: Reference | None = None
    status: InvoiceStatus = InvoiceStatus.DRAFT
    issued_at: Timestamp | None = None
    due_at: Timestamp | None = None
    amount: Amount
    currency: Currency


# Section name → (item model, singular used in messages, key that identifies an item).
SECTIONS: dict[str, tuple[type[FileModel], str, str]] = {
    "parties": (PartyIn, "party", "reference"),
    "users": (UserIn, "user", "username"),
    "orders": (OrderIn, "order", "reference"),
    "bookings": (BookingIn, "booking", "reference"),
    "trips": (TripIn, "trip", "reference"),
    "invoices": (InvoiceIn, "invoice", "reference"),
}
