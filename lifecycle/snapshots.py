"""An entity as plain data, and how `CATEGORY:REFERENCE` names one (see `entities`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from models import Category


@dataclass(frozen=True)
class EntityRef:
    """`order:ORD-1001` as typed by a person: a category and the carrier's reference."""

    category: Category
    reference: str

    def __str__(self) -> str:
        return f"{self.category.value}:{self.reference}"


@dataclass(frozen=True)
class EntitySnapshot:
    """One order, booking, trip or invoice as plain data."""

    category: Category
    id: uuid.UUID
    reference: str
    status: str
    created_at: datetime
    # Catalog field path -> value (str, bool, Decimal, aware datetime or None).
    fields: dict[str, Any]
    # IANA zone that local offsets ("+3d") are computed in: the entity's party, else carrier's.
    timezone: str
    # Parties whose contacts a task of this entity may address (one per customer on a trip).
    party_ids: tuple[uuid.UUID, ...] = ()
    # The trip contacts reachable from this entity (a trip's own; an order's trips').
    trip_contact_emails: tuple[str, ...] = ()
    # Document types recorded for the entity (a trip: those every one of its orders has).
    document_types: frozenset[str] = field(default_factory=frozenset)
