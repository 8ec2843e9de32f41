"""Every task status change goes through here, so the history never misses one.

A change to `ready` also marks the session, so its commit wakes the dispatcher
(`core.wakeups`).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from core.wakeups import mark_ready
from models import FINISHED_STATUSES, Task, TaskEvent, TaskStatus


def record_creation(
    *, session: Session, task: Task, by: str, now: datetime, note: str | None = None
) -> TaskEvent:
    """Add a new task with the history row of its first status."""
    task.created_at = task.updated_at = now
    if task.status == TaskStatus.READY:
        mark_ready(session)
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
    if to_status == TaskStatus.READY:
        mark_ready(session)
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


def claim_transition(
    *,
    session: Session,
    task_ids: list[uuid.UUID],
    from_status: TaskStatus,
    to_status: TaskStatus,
    by: str,
    now: datetime,
    flow_run_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Move those of `task_ids` still in `from_status` and count an attempt; return them.

    The status test is in the UPDATE itself, so of two writers that read the same rows only
    the first moves them (SQLite has no `SKIP LOCKED`; its writers queue instead). Each
    moved task gets its history row, `attempt N`.
    """
    if not task_ids:
        return []
    if to_status == TaskStatus.READY:
        mark_ready(session)
    table = Task.__table__  # type: ignore[attr-defined]  # SQLModel leaves it untyped
    moved = session.execute(
        sa.update(table)
        .where(table.c.id.in_(task_ids), table.c.status == from_status.value)
        .values(status=to_status.value, attempts=table.c.attempts + 1, updated_at=now)
        .returning(table.c.id, table.c.attempts)
    ).all()
    session.add_all(
        TaskEvent(
            task_id=task_id,
            from_status=from_status,
            to_status=to_status,
            at=now,
            by=by,
            note=f"attempt {attempts}",
            flow_run_id=flow_run_id,
        )
        for task_id, attempts in moved
    )
    # Rows already loaded in this session would otherwise keep their old status.
    session.expire_all()
    order = {task_id: index for index, task_id in enumerate(task_ids)}
    return sorted((task_id for task_id, _ in moved), key=order.__getitem__)
