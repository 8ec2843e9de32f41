"""Entities: parse `order:ORD-1001`, find them, and snapshot them in batches.

`EntityRef` and `EntitySnapshot` live in `lifecycle.snapshots` and are re-exported here. A
snapshot holds what conditions, schedules, recipients and templates need, keyed by the
field paths of `models.configuration.catalog` (`status`, `customer.country`, ...), so rules
never touch ORM objects. Snapshots are loaded with a fixed number of queries per chunk of
`CHUNK_SIZE` entities, whatever the number of entities (see `lifecycle.snapshot_queries`).

Derived fields: an order is `international` when its pickup and delivery countries differ
(None while either is unknown); a trip when its stops and the orders it carries touch more
than one country. A trip's parties are the customers of its orders (by order reference);
its document types are those recorded for every one of its orders.
"""

from __future__ import annotations

import uuid

from sqlmodel import Session, select

from core.batches import CHUNK_SIZE, in_chunks
from core.errors import InvalidEntityRefError, NotFoundError
from core.text import excerpt, normalize_reference
from lifecycle.snapshot_queries import SNAPSHOT_LOADERS, DocumentTypes
from lifecycle.snapshots import EntityRef, EntitySnapshot
from models import Booking, Category, Invoice, Order, Trip
from models.base import REFERENCE_LENGTH

__all__ = [
    "CHUNK_SIZE",
    "ENTITY_MODELS",
    "EntityRef",
    "EntitySnapshot",
    "InvalidEntityRefError",
    "find_entity_id",
    "in_chunks",
    "load_snapshots",
    "missing_entity",
    "parse_entity_ref",
]


ENTITY_MODELS: dict[Category, type[Order | Booking | Trip | Invoice]] = {
    Category.ORDER: Order,
    Category.BOOKING: Booking,
    Category.TRIP: Trip,
    Category.INVOICE: Invoice,
}

_REF_HINT = "write CATEGORY:REFERENCE, e.g. order:ORD-1001; categories: " + ", ".join(Category)


def parse_entity_ref(text: str) -> EntityRef:
    """Parse `CATEGORY:REFERENCE`; raise `InvalidEntityRefError` that says the expected form."""
    category, separator, reference = text.strip().partition(":")
    # A long value is shown by its start and its size: a message is no echo of the input.
    if not separator or not reference.strip():
        raise InvalidEntityRefError(f"{excerpt(text)} is not an entity: {_REF_HINT}")
    try:
        parsed = Category(category.strip().lower())
    except ValueError:
        raise InvalidEntityRefError(
            f"{excerpt(text)}: unknown category {excerpt(category)}; {_REF_HINT}"
        ) from None
    try:
        normalized = normalize_reference(reference)
    except ValueError as error:
        raise InvalidEntityRefError(f"{excerpt(text)}: {error}") from None
    if len(normalized) > REFERENCE_LENGTH:
        raise InvalidEntityRefError(
            f"{excerpt(text)}: a reference has at most {REFERENCE_LENGTH} characters"
        )
    return EntityRef(parsed, normalized)


def find_entity_id(*, session: Session, ref: EntityRef) -> uuid.UUID:
    """The id of the entity `ref` names; `NotFoundError` naming it when there is none."""
    model = ENTITY_MODELS[ref.category]
    found = session.exec(select(model.id).where(model.reference == ref.reference)).first()
    if found is None:
        raise missing_entity(ref)
    return found


def missing_entity(ref: EntityRef) -> NotFoundError:
    """The error for a reference that names no entity."""
    what = ref.category.value
    return NotFoundError(
        f"{what} {ref.reference} does not exist: import the {what} first, or check the "
        "reference (upper and lower case count)"
    )


def load_snapshots(
    *,
    session: Session,
    category: Category,
    entity_ids: list[uuid.UUID],
    carrier_timezone: str,
    document_types: DocumentTypes | None = None,
) -> dict[uuid.UUID, EntitySnapshot]:
    """Snapshots of many entities of one category with a bounded number of queries.

    Ids without an entity are left out of the result. `document_types`: the orders' (or
    trips') recorded document types, when the caller has just read them for every id.
    """
    loader = SNAPSHOT_LOADERS[category]
    snapshots: dict[uuid.UUID, EntitySnapshot] = {}
    for chunk in in_chunks(dict.fromkeys(entity_ids)):
        snapshots.update(loader(session, chunk, carrier_timezone, document_types))
    return snapshots
