"""What a task's e-mail template sees: plain data built from entity snapshots, never ORM rows.

The shape is the one `models.configuration.templates` documents and checks templates
against (`sample_context`), so a template valid at `config apply` finds the same names at
send time. A trip's e-mail is written for one customer at a time (`party_id`): its
`orders`, `customers` and `documents` hold that customer's only, so no template can list
another customer's order or attach its document.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session, col, select

from core.settings import get_settings
from lifecycle.entities import EntitySnapshot, load_snapshots
from models import (
    BookingOrder,
    Category,
    ConfigVersion,
    Document,
    Invoice,
    Task,
    TaskDefinition,
    TripOrder,
)


def own_fields(snapshot: EntitySnapshot) -> dict[str, Any]:
    """The entity's own fields (`reference`, `status`, ...), without its party's."""
    return {path: value for path, value in snapshot.fields.items() if "." not in path}


def party_fields(snapshot: EntitySnapshot, prefix: str) -> dict[str, Any] | None:
    """The party fields under `prefix` (`customer`), or None when the entity has no party."""
    values = {
        path.removeprefix(f"{prefix}."): value
        for path, value in snapshot.fields.items()
        if path.startswith(f"{prefix}.")
    }
    return values if values.get("reference") is not None else None


def _snapshots(
    session: Session, category: Category, ids: list[uuid.UUID]
) -> dict[uuid.UUID, EntitySnapshot]:
    return load_snapshots(
        session=session, category=category, entity_ids=ids, carrier_timezone=get_settings().timezone
    )


def carried_orders(
    session: Session, category: Category, entity_id: uuid.UUID
) -> list[EntitySnapshot]:
    """The orders of an order (itself), a trip or a booking, by reference."""
    if category is Category.ORDER:
        ids = [entity_id]
    elif category is Category.TRIP:
        ids = list(session.exec(select(TripOrder.order_id).where(TripOrder.trip_id == entity_id)))
    elif category is Category.BOOKING:
        ids = list(
            session.exec(select(BookingOrder.order_id).where(BookingOrder.booking_id == entity_id))
        )
    else:
        return []
    return sorted(_snapshots(session, Category.ORDER, ids).values(), key=lambda s: s.reference)


def latest_documents(
    session: Session, order_ids: list[uuid.UUID], types: list[str]
) -> list[Document]:
    """The latest document of each type for each order and stop, ordered for attaching."""
    if not order_ids or not types:
        return []
    rows = session.exec(
        select(Document)
        .where(col(Document.order_id).in_(order_ids), col(Document.type).in_(types))
        .order_by(col(Document.uploaded_at).desc(), col(Document.id))
    ).all()
    latest: dict[tuple[uuid.UUID, uuid.UUID | None, str], Document] = {}
    for document in rows:
        latest.setdefault((document.order_id, document.trip_stop_id, document.type), document)
    position = {order_id: index for index, order_id in enumerate(order_ids)}
    return sorted(
        latest.values(),
        key=lambda d: (position[d.order_id], types.index(d.type), d.uploaded_at, str(d.id)),
    )


def document_summary(document: Document, attached_as: str) -> dict[str, Any]:
    """A document as templates see it: named as attached, with the uploaded file's name."""
    return {
        "type": document.type,
        "filename": attached_as,
        "uploaded_as": document.filename,
        "size": document.size,
        "sha256": document.sha256,
    }


def build_context(
    *,
    session: Session,
    task: Task,
    definition: TaskDefinition,
    carrier_name: str,
    snapshot: EntitySnapshot,
    orders: list[EntitySnapshot],
    documents: list[Document],
    attached_as: list[str],
) -> dict[str, Any]:
    """The template context of `task` on `snapshot`, for `orders` and `documents` already
    narrowed to the e-mail's audience; `attached_as` names each document as attached."""
    category = snapshot.category
    context: dict[str, Any] = {
        "carrier": {"name": carrier_name},
        "task": {"key": definition.key, "name": definition.name, "id": str(task.id)},
        category.value: own_fields(snapshot),
        "documents": [
            document_summary(document, name)
            for document, name in zip(documents, attached_as, strict=True)
        ],
    }
    if category is Category.ORDER:
        trip_ids = list(
            session.exec(select(TripOrder.trip_id).where(TripOrder.order_id == snapshot.id))
        )
        trips = sorted(_snapshots(session, Category.TRIP, trip_ids).values(), key=_by_reference)
        context |= {
            "customer": party_fields(snapshot, "customer"),
            "trips": [own_fields(trip) for trip in trips],
        }
    elif category is Category.BOOKING:
        context |= {
            "subcontractor": party_fields(snapshot, "subcontractor"),
            "orders": [own_fields(order) for order in orders],
        }
    elif category is Category.TRIP:
        customers: dict[str, dict[str, Any]] = {}
        for order in orders:
            customer = party_fields(order, "customer")
            if customer is not None:
                customers.setdefault(str(customer["reference"]), customer)
        context |= {
            "subcontractor": party_fields(snapshot, "subcontractor"),
            "orders": [own_fields(order) for order in orders],
            "customers": list(customers.values()),
        }
    elif category is Category.INVOICE:
        invoice = session.get(Invoice, snapshot.id)
        order_id = invoice.order_id if invoice is not None else None
        billed = _snapshots(session, Category.ORDER, [order_id]) if order_id else {}
        context |= {
            "party": party_fields(snapshot, "party"),
            "order": own_fields(billed[order_id]) if order_id in billed else None,
        }
    return context


def _by_reference(snapshot: EntitySnapshot) -> str:
    return snapshot.reference


# A version is never changed once applied: its carrier name is read once per database and
# process (the whole configuration document is a JSON column, costly to load per e-mail).
_CARRIER_NAMES: dict[tuple[str, int], str] = {}


def carrier_name(session: Session, definition: TaskDefinition) -> str:
    """The carrier's name in the configuration version `definition` belongs to."""
    key = (str(session.get_bind().engine.url), definition.config_version_id)
    if key not in _CARRIER_NAMES:
        version = session.get(ConfigVersion, definition.config_version_id)
        carrier = version.document.get("carrier", {}) if version is not None else {}
        _CARRIER_NAMES[key] = str(carrier.get("name", ""))
    return _CARRIER_NAMES[key]
