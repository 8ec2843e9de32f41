"""The write side of an import: staged batch inserts, in-place updates, local times.

New rows are plain dicts inserted with one executemany per table and stage: building ORM
objects cost more than everything else in a 10,000-order import. Stored rows are ORM objects
updated in place, so the session's flush writes only what changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from functools import cache
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic_core import PydanticUndefined
from sqlmodel import Session, SQLModel

from core.settings import get_settings
from ingestion.report import ImportReport
from ingestion.schema import FileModel
from ingestion.stored import Stored
from models import Booking, Category, Invoice, Order, Party, StatusChange, Trip, User, utcnow

K = TypeVar("K")
Row = dict[str, Any]


def pick_given(item: FileModel, *keys: str) -> Row:
    """The values of `keys` the file wrote for this item (a key left out keeps its value)."""
    values = {key: getattr(item, key) for key in keys if key in item.model_fields_set}
    return {key: v.value if isinstance(v, Enum) else v for key, v in values.items()}


def apply_values(row: Any, values: Row) -> bool:
    """Set the values that differ from the stored row's; whether any did."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


@cache
def _defaults_of(model: type[SQLModel]) -> Row:
    """The plain defaults of a table's fields (factories are called per row)."""
    defaults: Row = {}
    for name, field in model.model_fields.items():
        if field.default_factory is None and field.default is not PydanticUndefined:
            default = field.default
            defaults[name] = default.value if isinstance(default, Enum) else default
    return defaults


@dataclass(frozen=True)
class Upserted:
    """One upserted entity: its id, its stored row (None when created), whether it changed."""

    id: uuid.UUID
    row: Any | None
    changed: bool

    @property
    def created(self) -> bool:
        """Whether this import created the entity."""
        return self.row is None


class Writer:
    """Writes in stages, flushed in order, so every insert follows the rows it refers to."""

    def __init__(
        self,
        *,
        session: Session,
        stored: Stored,
        by: str,
        report: ImportReport | None = None,
        now: datetime | None = None,
    ) -> None:
        self.session = session
        self.stored = stored
        self.by = by
        self.report = report if report is not None else ImportReport()
        self.now = now if now is not None else utcnow()
        self.default_zone = ZoneInfo(get_settings().timezone)
        self.zones = {party.id: party.timezone for party in stored.parties.values()}
        # Model → key → id, for stored rows and rows created by this import.
        self.ids: dict[type[SQLModel], dict[str, uuid.UUID]] = {
            Party: {key: row.id for key, row in stored.parties.items()},
            User: {key: row.id for key, row in stored.users.items()},
            Order: {key: row.id for key, row in stored.orders.items()},
            Booking: {key: row.id for key, row in stored.bookings.items()},
            Trip: {key: row.id for key, row in stored.trips.items()},
            Invoice: {key: row.id for key, row in stored.invoices.items()},
        }
        self._pending: dict[type[SQLModel], list[Row]] = {}
        self._later: dict[type[SQLModel], list[Row]] = {}

    def insert(self, model: type[SQLModel], values: Row, *, later: bool = False) -> Row:
        """Queue a new row (with defaults, id and timestamps) for this stage or the next."""
        row = {**_defaults_of(model), **values}
        fields = model.model_fields
        if "id" in fields and "id" not in row:
            row["id"] = uuid.uuid4()
        row.update({stamp: self.now for stamp in ("created_at", "updated_at") if stamp in fields})
        (self._later if later else self._pending).setdefault(model, []).append(row)
        return row

    def flush(self) -> None:
        """Write this stage (updates and deletes, then inserts); `later` rows come next."""
        self.session.flush()
        for model, rows in self._pending.items():
            table = model.__table__  # type: ignore[attr-defined]  # SQLModel leaves it untyped
            self.session.execute(sa.insert(table), rows)
        self._pending, self._later = self._later, {}

    def flush_all(self) -> None:
        """Write every stage still pending."""
        self.flush()
        while self._pending:
            self.flush()

    def find_id(self, model: type[SQLModel], key: str | None) -> uuid.UUID | None:
        """The id of a stored or created row by its key; None for no key."""
        return self.ids[model][key] if key is not None else None

    def upsert(
        self,
        model: type[SQLModel],
        rows: Mapping[str, Any],
        key: str,
        values: Row,
        *,
        category: Category | None = None,
    ) -> Upserted:
        """Create the row known by `key` or update the stored one; record a new status."""
        row = rows.get(key)
        if row is None:
            new = self.insert(model, values)
            upserted, old, status = Upserted(new["id"], None, True), None, new.get("status")
        else:
            old = getattr(row, "status", None)
            upserted = Upserted(row.id, row, apply_values(row, values))
            status = getattr(row, "status", None)
        if model in self.ids:
            self.ids[model][key] = upserted.id
        if category is not None and status is not None and old != status:
            self.insert(StatusChange, self._make_status_change(category, upserted.id, old, status))
        return upserted

    def _make_status_change(
        self, category: Category, entity_id: uuid.UUID, old: str | None, new: str
    ) -> Row:
        return {
            "category": category.value,
            "entity_id": entity_id,
            "from_status": old,
            "to_status": str(new),
            "changed_at": self.now,
            "changed_by": self.by,
        }

    def sync(
        self,
        held: Mapping[K, SQLModel],
        wanted: Iterable[K],
        model: type[SQLModel],
        make: Callable[[K], Row],
    ) -> bool:
        """Make a set of link rows match `wanted` (kept, deleted, added); whether it changed."""
        keys = dict.fromkeys(wanted)
        for key, row in held.items():
            if key not in keys:
                self.session.delete(row)
        # The owner may be new in this stage, so its links wait for the next one.
        for key in keys:
            if key not in held:
                self.insert(model, make(key), later=True)
        return keys.keys() != held.keys()

    def finish(self, kind: str, upserted: Upserted, *, changed: bool = False) -> None:
        """Stamp a changed stored row and count the entity."""
        changed = changed or upserted.changed
        if changed and upserted.row is not None:
            upserted.row.updated_at = self.now
        self.report.record(kind, upserted.id, created=upserted.created, changed=changed)

    def zone_for(self, party_id: uuid.UUID | None) -> ZoneInfo:
        """The timezone of a party's local times; the carrier's own without a party."""
        name = self.zones.get(party_id) if party_id is not None else None
        return ZoneInfo(name) if name is not None else self.default_zone

    def to_instant(self, value: datetime | None, zone: ZoneInfo) -> datetime | None:
        """A file date-time as a UTC instant; one without an offset is local to `zone`."""
        if value is None:
            return None
        if value.tzinfo is None:
            # Times in a DST change take the offset before it (fold=0), as an ops team reads them.
            value = value.replace(tzinfo=zone)
        return value.astimezone(UTC)
