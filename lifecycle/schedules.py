"""When a task becomes due, from its definition's schedule and a snapshot of its entity.

A task that is due is `open` (manual: a person acts) or `ready` (automatic: dispatch sends
it); one whose moment is known but not come is `scheduled` with `due_at`; one whose moment
is unknown yet is `scheduled` without `due_at` (or `waiting_for_documents`). Execution
`skip` creates the task already `skipped`. By trigger (`schedule.on`):

- `created`: due at the entity's creation plus the offset.
- `documents`: `waiting_for_documents` until every required document type is recorded for
  the entity; when they already are, due like `created`.
- `status: S`: due (plus the offset) once the entity's status has reached S, in the order of
  the category's statuses in the catalog (`cancelled` reaches nothing): an order imported
  already `delivered` has reached `in_transit`. Reached is taken to be `now`.
- `date: D`: due at D plus the offset; without D, `scheduled` without `due_at`.

Offsets are local: days move on the calendar of the entity's timezone (same wall-clock time,
correct across DST changes), hours and minutes are elapsed time. A wall-clock time that does
not exist that day (inside a spring-forward gap) moves forward by the gap; an ambiguous one
takes its first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from lifecycle.snapshots import EntitySnapshot
from models import Execution, TaskStatus
from models.configuration.catalog import CATEGORIES
from models.configuration.scalars import parse_offset
from models.definitions import TaskSpec


@dataclass(frozen=True)
class Plan:
    """The status a task should be in and the moment it is (or was) due."""

    status: TaskStatus
    due_at: datetime | None


def apply_offset(moment: datetime, offset: timedelta, timezone: str) -> datetime:
    """`moment` moved by `offset` in `timezone`, returned in UTC.

    Whole days move on the local calendar (same wall-clock time); the rest is elapsed time.
    """
    sign = -1 if offset < timedelta() else 1
    size = abs(offset)
    days = timedelta(days=size.days)
    local = moment.astimezone(ZoneInfo(timezone))
    # Aware arithmetic keeps the wall-clock time; the zone then gives that day's offset.
    shifted = (local + sign * days).replace(fold=0)
    return shifted.astimezone(UTC) + sign * (size - days)


def due_status(execution: str) -> TaskStatus:
    """The status of a task that is due: `ready` for automatic tasks, `open` otherwise."""
    return TaskStatus.READY if execution == Execution.AUTOMATIC else TaskStatus.OPEN


def status_reached(category: str, current: str, target: str) -> bool:
    """Whether an entity in status `current` has reached `target` (cancelled reaches none)."""
    order = [status for status in CATEGORIES[category].statuses if status != "cancelled"]
    if current not in order or target not in order:
        return False
    return order.index(current) >= order.index(target)


@lru_cache(maxsize=256)
def read_offset(text: str) -> timedelta:
    """A stored offset (`+3d`, `0`) as a timedelta; cached, as every task of a batch reads it."""
    offset = parse_offset(text)
    if not isinstance(offset, timedelta):
        raise ValueError(f"stored offset {text!r} is not a duration")
    return offset


def plan_task(*, spec: TaskSpec, execution: str, snapshot: EntitySnapshot, now: datetime) -> Plan:
    """The status and due moment of a task of `spec` on `snapshot`, as of `now`."""
    if execution == Execution.SKIP:
        return Plan(TaskStatus.SKIPPED, None)
    schedule = spec.schedule
    offset = read_offset(schedule.offset)

    def due_from(moment: datetime) -> Plan:
        due = apply_offset(moment, offset, snapshot.timezone)
        return Plan(due_status(execution) if due <= now else TaskStatus.SCHEDULED, due)

    trigger = schedule.on
    if trigger == "created":
        return due_from(snapshot.created_at)
    if trigger == "documents":
        if set(spec.required_documents) <= snapshot.document_types:
            return due_from(snapshot.created_at)
        return Plan(TaskStatus.WAITING_FOR_DOCUMENTS, None)
    if trigger == "status":
        if status_reached(snapshot.category, snapshot.status, schedule.status or ""):
            return due_from(now)
        return Plan(TaskStatus.SCHEDULED, None)
    if trigger == "date":
        moment = snapshot.fields.get(schedule.date or "")
        return due_from(moment) if moment is not None else Plan(TaskStatus.SCHEDULED, None)
    raise ValueError(f"unknown schedule trigger {trigger!r}")


def format_moment(moment: datetime | None, timezone: str) -> str:
    """`2026-12-02 17:00 CET` in `timezone`, or `-` for no moment."""
    if moment is None:
        return "-"
    return f"{moment.astimezone(ZoneInfo(timezone)):%Y-%m-%d %H:%M %Z}"
