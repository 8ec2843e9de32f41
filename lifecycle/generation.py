"""Generate tasks for created entities: one per matching definition, idempotent, in bulk.

For each entity, one task per definition of its category in the latest configuration version
whose `auto_generate` is on and whose conditions match the entity. A cancelled entity gets no
task. Each entity is then marked generated (`tasks_generated_at`). An entity already marked
is skipped, so passing it again is safe and a configuration applied since then does not
reach it (new tasks appear only on new entities; `recalculation` is the
explicit way).

The database makes generation idempotent: tasks are unique per (category, entity,
definition key) and are inserted with ON CONFLICT DO NOTHING ... RETURNING id (see
`bulk_insert`), so two concurrent generations of one entity produce one set of tasks, and
the history rows (creation events, as `history.record_creation` writes them) are written only
for the ids this call inserted. Rows are inserted sorted by (entity, key) so concurrent
writers take their locks in the same order.

A task keeps what it was generated from: `definition_id` (the definition row
of that version) and the recipients resolved then (see `recipients`). The creation event's
note names the version and any requested role nobody holds or invalid address dropped, for
`explain`. Work is batched: per chunk of entities, a fixed number of queries for snapshots,
one per definition for contacts, then bulk inserts of tasks and events.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.settings import get_settings
from core.text import counted
from core.wakeups import mark_ready
from lifecycle.bulk_insert import insert_rows
from lifecycle.conditions import matches
from lifecycle.entities import ENTITY_MODELS, EntitySnapshot, in_chunks, load_snapshots
from lifecycle.recipients import Resolution, resolve_recipients
from lifecycle.schedules import plan_task
from models import (
    FINISHED_STATUSES,
    Category,
    ConfigVersion,
    Task,
    TaskDefinition,
    TaskEvent,
    TaskStatus,
)

_UNIQUE_TASK = ("category", "entity_id", "definition_key")
# TaskEvent.note is bounded; a long list of unmatched roles or bad addresses is cut.
_NOTE_LIMIT = 2000


@dataclass
class GenerationReport:
    """What one generation did; reports of several batches add up with `merge`."""

    entities: int = 0
    created: int = 0
    already_present: int = 0
    not_matching: int = 0
    created_task_ids: list[uuid.UUID] = field(default_factory=list)
    cancelled: int = 0
    # Entities passed that were generated before (or do not exist): left untouched.
    already_generated: int = 0

    def merge(self, other: GenerationReport) -> None:
        """Add the counts and ids of `other` to this report."""
        self.entities += other.entities
        self.created += other.created
        self.already_present += other.already_present
        self.not_matching += other.not_matching
        self.created_task_ids.extend(other.created_task_ids)
        self.cancelled += other.cancelled
        self.already_generated += other.already_generated

    def summary(self) -> str:
        """One line: `12 entities: 30 tasks created, 2 already present, 5 not matching`."""
        line = (
            f"{counted(self.entities, 'entity', 'entities')}: {counted(self.created, 'task')} "
            f"created, {self.already_present:,} already present, {self.not_matching:,} not matching"
        )
        if self.cancelled:
            line += f", {counted(self.cancelled, 'cancelled entity', 'cancelled entities')}"
        if self.already_generated:
            skipped = counted(self.already_generated, "entity", "entities")
            line += f"; {skipped} skipped (already generated or missing)"
        return line


@dataclass(frozen=True)
class NewTask:
    """A task row ready for `insert_tasks`, with the note of its creation event."""

    row: dict[str, Any]
    note: str


def active_definitions(*, session: Session, category: Category) -> list[TaskDefinition]:
    """The definitions of `category` in the latest configuration version, in position order."""
    latest = sa.select(sa.func.max(ConfigVersion.id)).scalar_subquery()
    statement = (
        select(TaskDefinition)
        .where(TaskDefinition.category == category.value)
        .where(TaskDefinition.config_version_id == latest)
        .order_by(col(TaskDefinition.position))
    )
    return list(session.exec(statement).all())


def pending_entity_ids(*, session: Session, category: Category, limit: int) -> list[uuid.UUID]:
    """Entities of `category` never generated (`tasks_generated_at` is null), oldest first."""
    model = ENTITY_MODELS[category]
    statement = (
        select(model.id)
        .where(col(model.tasks_generated_at).is_(None))
        .order_by(col(model.created_at), col(model.id))
        .limit(limit)
    )
    return list(session.exec(statement).all())


def generate_tasks(
    *,
    session: Session,
    category: Category,
    entity_ids: list[uuid.UUID],
    now: datetime,
    by: str,
) -> GenerationReport:
    """Create the missing tasks of these entities and mark them generated."""
    report = GenerationReport()
    definitions = [
        definition
        for definition in active_definitions(session=session, category=category)
        if definition.auto_generate
    ]
    fallback_role = read_fallback_role(session=session, definitions=definitions)
    zone = get_settings().timezone
    for chunk in in_chunks(dict.fromkeys(entity_ids)):
        pending = _select_pending(session, category, chunk)
        report.already_generated += len(chunk) - len(pending)
        snapshots = load_snapshots(
            session=session, category=category, entity_ids=pending, carrier_timezone=zone
        )
        report.merge(
            _generate_chunk(
                session, definitions, list(snapshots.values()), fallback_role, now=now, by=by
            )
        )
        mark_generated(session=session, category=category, entity_ids=list(snapshots), now=now)
    return report


def read_fallback_role(*, session: Session, definitions: list[TaskDefinition]) -> str | None:
    """The `fallback_role` of the configuration version these definitions belong to."""
    if not definitions:
        return None
    version = session.get(ConfigVersion, definitions[0].config_version_id)
    role = version.document.get("fallback_role") if version is not None else None
    return str(role) if role is not None else None


def _generate_chunk(
    session: Session,
    definitions: list[TaskDefinition],
    snapshots: list[EntitySnapshot],
    fallback_role: str | None,
    *,
    now: datetime,
    by: str,
) -> GenerationReport:
    """Plan and insert the tasks of one chunk of entities not generated yet."""
    live = [snapshot for snapshot in snapshots if snapshot.status != "cancelled"]
    report = GenerationReport(entities=len(snapshots), cancelled=len(snapshots) - len(live))
    new_tasks: list[NewTask] = []
    for definition in definitions:
        conditions = definition.task_spec.conditions
        eligible = [s for s in live if matches(conditions, s.fields, timezone=s.timezone)]
        report.not_matching += len(live) - len(eligible)
        if not eligible:
            continue
        resolutions = resolve_recipients(
            session=session,
            intended_for=definition.task_spec.intended_for,
            snapshots=eligible,
            fallback_role=fallback_role,
        )
        new_tasks.extend(
            build_task(definition, snapshot, resolutions[snapshot.id], now=now)
            for snapshot in eligible
        )
    inserted = insert_tasks(session=session, new_tasks=new_tasks, now=now, by=by)
    report.created = len(inserted)
    report.already_present = len(new_tasks) - len(inserted)
    report.created_task_ids = inserted
    return report


def _select_pending(session: Session, category: Category, ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """The ids among `ids` of existing entities not generated yet, in the given order."""
    model = ENTITY_MODELS[category]
    statement = select(model.id).where(
        col(model.id).in_(ids), col(model.tasks_generated_at).is_(None)
    )
    pending = set(session.exec(statement).all())
    return [entity_id for entity_id in ids if entity_id in pending]


def build_task(
    definition: TaskDefinition, snapshot: EntitySnapshot, resolution: Resolution, *, now: datetime
) -> NewTask:
    """The task of `definition` on `snapshot`, planned as of `now`."""
    plan = plan_task(
        spec=definition.task_spec, execution=definition.execution, snapshot=snapshot, now=now
    )
    row = {
        "id": uuid.uuid4(),
        "definition_id": definition.id,
        "definition_key": definition.key,
        "category": snapshot.category.value,
        "entity_id": snapshot.id,
        "status": plan.status.value,
        "responsible": definition.responsible,
        "recipients": resolution.recipients,
        "due_at": plan.due_at,
        "attempts": 0,
        "completed_at": None,
        "completed_by": None,
        "created_at": now,
        "updated_at": now,
    }
    return NewTask(row, creation_note(definition, resolution))


def creation_note(definition: TaskDefinition, resolution: Resolution) -> str:
    """`configuration version 2; unmatched roles: billing; invalid addresses: x@`."""
    parts = [f"configuration version {definition.config_version_id}"]
    if resolution.unmatched_roles:
        parts.append("unmatched roles: " + ", ".join(resolution.unmatched_roles))
    if resolution.invalid_addresses:
        parts.append("invalid addresses: " + ", ".join(resolution.invalid_addresses))
    note = "; ".join(parts)
    return note if len(note) <= _NOTE_LIMIT else note[: _NOTE_LIMIT - 3] + "..."


def insert_tasks(
    *,
    session: Session,
    new_tasks: list[NewTask],
    now: datetime,
    by: str,
    flow_run_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Insert the tasks not present yet with their creation events; return the ids inserted."""
    if not new_tasks:
        return []
    ordered = sorted(new_tasks, key=lambda t: (str(t.row["entity_id"]), t.row["definition_key"]))
    rows = []
    for new_task in ordered:
        row = dict(new_task.row)
        if row["status"] in FINISHED_STATUSES:
            row["completed_at"], row["completed_by"] = now, by
        rows.append(row)
    inserted = insert_rows(
        session=session,
        table=Task.__table__,  # type: ignore[attr-defined]  # SQLModel leaves it untyped
        rows=rows,
        unique=_UNIQUE_TASK,
    )
    events = [
        {
            "id": uuid.uuid4(),
            "task_id": row["id"],
            "from_status": None,
            "to_status": row["status"],
            "at": now,
            "by": by,
            "note": new_task.note,
            "flow_run_id": flow_run_id,
        }
        for row, new_task in zip(rows, ordered, strict=True)
        if row["id"] in inserted
    ]
    insert_rows(session=session, table=TaskEvent.__table__, rows=events)  # type: ignore[attr-defined]
    if any(event["to_status"] == TaskStatus.READY for event in events):
        mark_ready(session)
    return [row["id"] for row in rows if row["id"] in inserted]


def mark_generated(
    *, session: Session, category: Category, entity_ids: list[uuid.UUID], now: datetime
) -> None:
    """Stamp `tasks_generated_at` on these entities, keeping an earlier stamp."""
    model = ENTITY_MODELS[category]
    for chunk in in_chunks(entity_ids):
        session.execute(
            sa.update(model)
            .where(col(model.id).in_(chunk), col(model.tasks_generated_at).is_(None))
            .values(tasks_generated_at=now)
        )
