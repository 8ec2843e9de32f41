"""An entity's tasks and history as plain data: what a TMS shows on its order page."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, datetime, time
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from core.settings import get_settings
from lifecycle.entities import ENTITY_MODELS, EntityRef, find_entity_id, in_chunks
from models import (
    FINISHED_STATUSES,
    Category,
    Communication,
    StatusChange,
    Task,
    TaskDefinition,
    TaskEvent,
)

# The length of the task ids shown to people; `tasks done|skip` accept it back.
SHORT_ID_LENGTH = 8


def to_plain(value: Any) -> Any:
    """`value` with datetimes, UUIDs, enums, dataclasses and tuples made JSON-able."""
    if is_dataclass(value) and not isinstance(value, type):
        return to_plain(asdict(value))
    if isinstance(value, dict):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_plain(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def short_id(task_id: uuid.UUID) -> str:
    """The first hex characters of a task id, as lists show it."""
    return task_id.hex[:SHORT_ID_LENGTH]


@dataclass(frozen=True)
class EntityHeader:
    """What identifies an entity to a person: category, reference, status, creation."""

    category: str
    id: uuid.UUID
    reference: str
    status: str
    created_at: datetime

    def __str__(self) -> str:
        return f"{self.category} {self.reference}"


def load_entity_headers(
    *, session: Session, keys: Iterable[tuple[str, uuid.UUID]]
) -> dict[tuple[str, uuid.UUID], EntityHeader]:
    """Headers of many entities, keyed by (category, id): one query per category."""
    ids_by_category: dict[str, set[uuid.UUID]] = defaultdict(set)
    for category, entity_id in keys:
        ids_by_category[category].add(entity_id)
    headers: dict[tuple[str, uuid.UUID], EntityHeader] = {}
    for category, ids in ids_by_category.items():
        model = ENTITY_MODELS[Category(category)]
        for chunk in in_chunks(ids):
            statement = select(model.id, model.reference, model.status, model.created_at).where(
                col(model.id).in_(chunk)
            )
            for entity_id, reference, status, created_at in session.exec(statement):
                headers[category, entity_id] = EntityHeader(
                    category, entity_id, reference, status, created_at
                )
    return headers


def describe_entity(
    headers: dict[tuple[str, uuid.UUID], EntityHeader], category: str, entity_id: uuid.UUID
) -> str:
    """`order ORD-1`, or the bare id when the entity row is gone."""
    header = headers.get((category, entity_id))
    return str(header) if header else f"{category} {entity_id}"


@dataclass(frozen=True)
class TaskHistoryLine:
    """One status change of a task: when, from what to what, who, why, and the Prefect flow
    run that made it (none for a change made outside Prefect, by the CLI or the API)."""

    at: datetime
    from_status: str | None
    to_status: str
    by: str
    note: str | None
    flow_run_id: uuid.UUID | None


@dataclass(frozen=True)
class StatusLine:
    """One status change of the entity itself."""

    at: datetime
    from_status: str | None
    to_status: str
    by: str


@dataclass(frozen=True)
class EmailLine:
    """One e-mail the task sent, from the communication log."""

    id: uuid.UUID
    short_id: str
    sent_at: datetime
    recipients: tuple[str, ...]
    subject: str
    attachments: tuple[str, ...]
    requested_by: str
    message_id: str
    archive_sha256: str | None
    flow_run_id: uuid.UUID | None


@dataclass(frozen=True)
class TaskView:
    """One task of the entity, with its definition's name and its whole history."""

    id: uuid.UUID
    short_id: str
    key: str
    name: str
    config_version: int
    position: int
    status: str
    execution: str
    responsible: str | None
    due_at: datetime | None
    next_attempt_at: datetime | None
    attempts: int
    last_error: str | None
    completed_at: datetime | None
    completed_by: str | None
    recipients: int
    created_at: datetime
    history: tuple[TaskHistoryLine, ...]
    emails: tuple[EmailLine, ...] = ()

    def is_overdue(self, now: datetime) -> bool:
        """Due before `now` and not finished."""
        return is_overdue(self.status, self.due_at, now)


@dataclass(frozen=True)
class EntityTaskList:
    """An entity, its status history and its tasks in configured order."""

    entity: EntityHeader
    status_history: tuple[StatusLine, ...]
    tasks: tuple[TaskView, ...]

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able data: ISO timestamps, string ids."""
        plain: dict[str, Any] = to_plain(self)
        return plain


def overdue_before(now: datetime, timezone: str | None = None) -> datetime:
    """Tasks due before this moment are overdue: the start of today on the carrier's calendar.

    A task due today is due, not late (as in Odoo's activities or a paper diary): a manual
    task due at its entity's creation is not overdue the moment it exists, and one due at
    09:00 is overdue tomorrow, not at 09:01.
    """
    zone = ZoneInfo(timezone or get_settings().timezone)
    local = now.astimezone(zone)
    midnight = datetime.combine(local.date(), time(), tzinfo=zone)
    return midnight.astimezone(UTC)


def is_overdue(status: str, due_at: datetime | None, now: datetime) -> bool:
    """Unfinished, and due before today (`overdue_before`)."""
    return due_at is not None and due_at < overdue_before(now) and status not in FINISHED_STATUSES


def entity_tasks(*, session: Session, ref: EntityRef) -> EntityTaskList:
    """The entity `ref` names with its tasks in configured order and every history line."""
    entity_id = find_entity_id(session=session, ref=ref)
    category = ref.category.value
    header = load_entity_headers(session=session, keys=[(category, entity_id)])[category, entity_id]
    # A task keeps the position its own definition version gave it, so a task generated
    # under an older configuration keeps its place next to newer ones.
    statement = (
        select(Task, TaskDefinition)
        .join(TaskDefinition, col(Task.definition_id) == col(TaskDefinition.id))
        .where(Task.category == category, Task.entity_id == entity_id)
        .order_by(
            col(TaskDefinition.position),
            col(TaskDefinition.config_version_id),
            col(Task.definition_key),
        )
    )
    rows = session.exec(statement).all()
    history = load_task_history(session=session, task_ids=[task.id for task, _ in rows])
    emails = load_task_emails(session=session, task_ids=[task.id for task, _ in rows])
    changes = session.exec(
        select(StatusChange)
        .where(StatusChange.category == category, StatusChange.entity_id == entity_id)
        .order_by(col(StatusChange.changed_at))
    ).all()
    return EntityTaskList(
        entity=header,
        status_history=tuple(
            StatusLine(change.changed_at, change.from_status, change.to_status, change.changed_by)
            for change in changes
        ),
        tasks=tuple(
            _task_view(task, definition, history.get(task.id, ()), emails.get(task.id, ()))
            for task, definition in rows
        ),
    )


def load_task_history(
    *, session: Session, task_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[TaskHistoryLine, ...]]:
    """The history lines of many tasks in one query, oldest first."""
    events = [
        event
        for chunk in in_chunks(task_ids)
        for event in session.exec(select(TaskEvent).where(col(TaskEvent.task_id).in_(chunk)))
    ]
    # A creation and a transition can share a timestamp; the creation line comes first.
    ordered = sorted(events, key=lambda event: (event.at, event.from_status is not None))
    lines: dict[uuid.UUID, list[TaskHistoryLine]] = defaultdict(list)
    for event in ordered:
        lines[event.task_id].append(
            TaskHistoryLine(
                event.at,
                event.from_status,
                event.to_status,
                event.by,
                event.note,
                event.flow_run_id,
            )
        )
    return {task_id: tuple(task_lines) for task_id, task_lines in lines.items()}


def load_task_emails(
    *, session: Session, task_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[EmailLine, ...]]:
    """The communication-log rows of many tasks, oldest first, one query per chunk."""
    lines: dict[uuid.UUID, list[EmailLine]] = defaultdict(list)
    for chunk in in_chunks(task_ids):
        statement = (
            select(Communication)
            .where(col(Communication.task_id).in_(chunk))
            .order_by(col(Communication.sent_at), col(Communication.id))
        )
        for row in session.exec(statement):
            lines[row.task_id].append(
                EmailLine(
                    id=row.id,
                    short_id=short_id(row.id),
                    sent_at=row.sent_at,
                    recipients=tuple(row.recipients),
                    subject=row.subject,
                    attachments=tuple(str(a["filename"]) for a in row.attachments),
                    requested_by=row.requested_by,
                    message_id=row.message_id,
                    archive_sha256=row.archive_sha256,
                    flow_run_id=row.flow_run_id,
                )
            )
    return {task_id: tuple(task_lines) for task_id, task_lines in lines.items()}


def _task_view(
    task: Task,
    definition: TaskDefinition,
    history: tuple[TaskHistoryLine, ...],
    emails: tuple[EmailLine, ...],
) -> TaskView:
    return TaskView(
        id=task.id,
        short_id=short_id(task.id),
        key=task.definition_key,
        name=definition.name,
        config_version=definition.config_version_id,
        position=definition.position,
        status=task.status,
        execution=definition.execution,
        responsible=task.responsible,
        due_at=task.due_at,
        next_attempt_at=task.next_attempt_at,
        attempts=task.attempts,
        last_error=task.last_error,
        completed_at=task.completed_at,
        completed_by=task.completed_by,
        recipients=len(task.recipients),
        created_at=task.created_at,
        history=history,
        emails=emails,
    )
