"""Every task status change goes through here, so the history never misses one."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session

from models import FINISHED_STATUSES, Task, TaskEvent, TaskStatus


def record_creation(
    *, session: Session, task: Task, by: str, now: datetime, note: str | None = None
) -> TaskEvent:
    """Add a new task with the history row of its first status."""
    task.created_at = task.updated_at = now
    if task.status in FINISHED_STATUSES:
        task.completed_at, task.completed_by = now, by
    event = TaskEvent(task_id=task.id, to_status=task.status, at=now, by=by, note=note)
    session.add(task)
    session.add(event)
    return event


def record_transition(
    *,
    session: Session,
    task: Task,
    to_status: TaskStatus,
    by: str,
    now: datetime,
    note: str | None = None,
    flow_run_id: uuid.UUID | None = None,
) -> TaskEvent:
    """Move `task` to `to_status` with the history row saying who did it, when and why."""
    event = TaskEvent(
        task_id=task.id,
        from_status=task.status,
        to_status=to_status,
        at=now,
        by=by,
        note=note,
        flow_run_id=flow_run_id,
    )
    task.status = to_status
    task.updated_at = now
    if to_status in FINISHED_STATUSES:
        task.completed_at, task.completed_by = now, by
    session.add(task)
    session.add(event)
    return event


def record_note(
    *,
    session: Session,
    task: Task,
    by: str,
    now: datetime,
    note: str,
    flow_run_id: uuid.UUID | None = None,
) -> TaskEvent:
    """Add a history row that changes no status (a resend, a hand-run that found it done)."""
    event = TaskEvent(
        task_id=task.id,
        from_status=task.status,
        to_status=task.status,
        at=now,
        by=by,
        note=note,
        flow_run_id=flow_run_id,
    )
    session.add(event)
    return event
