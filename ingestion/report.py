"""What an import did: counts per kind and the entities whose tasks need (re)scheduling."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from models import Category

KINDS = ("parties", "contacts", "users", "orders", "bookings", "trips", "invoices")


@dataclass
class Counts:
    """How many items of one kind were created, updated or left unchanged."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class ImportReport:
    """Counts per kind; ids of created and of changed orders, bookings, trips and invoices."""

    counts: dict[str, Counts] = field(default_factory=lambda: {kind: Counts() for kind in KINDS})
    created: dict[Category, list[uuid.UUID]] = field(
        default_factory=lambda: {category: [] for category in Category}
    )
    changed: dict[Category, list[uuid.UUID]] = field(
        default_factory=lambda: {category: [] for category in Category}
    )

    def record(self, kind: str, entity_id: uuid.UUID, *, created: bool, changed: bool) -> None:
        """Count one item; orders, bookings, trips and invoices also keep their id."""
        counts = self.counts[kind]
        category = _CATEGORIES.get(kind)
        if created:
            counts.created += 1
            if category is not None:
                self.created[category].append(entity_id)
        elif changed:
            counts.updated += 1
            if category is not None:
                self.changed[category].append(entity_id)
        else:
            counts.unchanged += 1

    def summarize(self) -> list[str]:
        """One line per kind imported, e.g. `orders: 2 created, 1 updated, 0 unchanged`."""
        return [
            f"{kind}: {c.created} created, {c.updated} updated, {c.unchanged} unchanged"
            for kind, c in self.counts.items()
            if c.created or c.updated or c.unchanged
        ]


_CATEGORIES = {
    "orders": Category.ORDER,
    "bookings": Category.BOOKING,
    "trips": Category.TRIP,
    "invoices": Category.INVOICE,
}
