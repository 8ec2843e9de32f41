"""Task instances on entities, and their history of status changes."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow


class TaskStatus(StrEnum):
    OPEN = "open"
    WAITING_FOR_DOCUMENTS = "waiting_for_documents"
    SCHEDULED = "scheduled"
    READY = "ready"
    SENDING = "sending"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


FINISHED_STATUSES = frozenset(
    {TaskStatus.DONE, TaskStatus.FAILED, TaskStatus.SKIPPED, TaskStatus.CANCELLED}
)


class Task(SQLModel, table=True):
    """One definition applied to one entity.

    The unique key makes generation idempotent in the database itself: two concurrent
    generations of one entity cannot both insert the same task.
    """

    __tablename__ = "tasks"
    __table_args__ = (
        sa.UniqueConstraint("category", "entity_id", "definition_key"),
        sa.Index("ix_tasks_status_next_attempt_at", "status", "next_attempt_at"),
        # An entity's tasks, and its waiting ones (an upload's gate) without a scan of all.
        sa.Index("ix_tasks_entity_id_status", "entity_id", "status"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    definition_id: uuid.UUID = Field(foreign_key="task_definitions.id", index=True)
    definition_key: str = Field(max_length=64)
    category: str = Field(max_length=16)
    entity_id: uuid.UUID
    status: str = Field(max_length=24)
    # "user:alice", "team:customer-service" or "role:operations".
    responsible: str | None = Field(default=None, max_length=110, index=True)
    # Recipients resolved when the task was generated (a later contact change does not
    # reach it; `tasks recalculate` does).
    recipients: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=2000)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    completed_by: str | None = Field(default=None, max_length=100)
    # Why a done task is being sent again (a corrected document); recorded with its e-mails.
    resend_reason: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class TaskEvent(SQLModel, table=True):
    """One status change of a task, with who or what caused it."""

    __tablename__ = "task_events"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    task_id: uuid.UUID = Field(foreign_key="tasks.id", index=True, ondelete="CASCADE")
    from_status: str | None = Field(default=None, max_length=24)
    to_status: str = Field(max_length=24)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    by: str = Field(max_length=100)
    note: str | None = Field(default=None, max_length=2000)
    flow_run_id: uuid.UUID | None = None
