"""Keep unfinished tasks in step with their entity, and make scheduled tasks due on time.

`reschedule_entities` runs after entities were updated (an import, an API call):

- An entity cancelled cancels its unfinished tasks.
- A task scheduled on a date follows that date: its `due_at` moves, and it becomes due, or
  scheduled again, as the new moment is past or future.
- A task scheduled on a status becomes due once the entity reaches that status; from then on
  its `due_at` is kept (it fired once).
- Tasks scheduled on creation or on documents are left to `promote_due_tasks` and to the
  document gate.

`promote_due_tasks` is the sweep's part: scheduled tasks whose `due_at` has passed become due
(`open` for manual tasks, `ready` for automatic ones). Neither touches finished tasks (done,
failed, skipped, cancelled) nor a task being sent (`sending`: dispatch owns it until it ends),
and every status change goes through `lifecycle.history` with who caused it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session, col, select

from core.moments import human_moment
from core.settings import get_settings
from lifecycle.entities import EntitySnapshot, in_chunks, load_snapshots
from lifecycle.history import record_transition
from lifecycle.schedules import Plan, due_status, format_moment, plan_task
from models import FINISHED_STATUSES, Category, Task, TaskDefinition, TaskStatus

# Statuses rescheduling never changes.
SETTLED_STATUSES = FINISHED_STATUSES | {TaskStatus.SENDING}


def reschedule_entities(
    *,
    session: Session,
    category: Category,
    entity_ids: list[uuid.UUID],
    now: datetime,
    by: str,
) -> int:
    """Bring the unfinished tasks of updated entities in line with them; return tasks changed."""
    changed = 0
    zone = get_settings().timezone
    for chunk in in_chunks(dict.fromkeys(entity_ids)):
        snapshots = load_snapshots(
            session=session, category=category, entity_ids=chunk, carrier_timezone=zone
        )
        statement = (
            select(Task, TaskDefinition)
            .join(TaskDefinition, col(TaskDefinition.id) == Task.definition_id)
            .where(Task.category == category.value)
            .where(col(Task.entity_id).in_(chunk))
            .where(col(Task.status).not_in([status.value for status in SETTLED_STATUSES]))
            .order_by(col(Task.entity_id), col(TaskDefinition.position))
        )
        for task, definition in session.exec(statement).all():
            snapshot = snapshots.get(task.entity_id)
            if snapshot is not None and _reschedule_task(
                session, task, definition, snapshot, now=now, by=by
            ):
                changed += 1
    return changed


def _reschedule_task(
    session: Session,
    task: Task,
    definition: TaskDefinition,
    snapshot: EntitySnapshot,
    *,
    now: datetime,
    by: str,
) -> bool:
    if snapshot.status == "cancelled":
        note = f"{snapshot.category.value} {snapshot.reference} cancelled"
        record_transition(
            session=session, task=task, to_status=TaskStatus.CANCELLED, by=by, now=now, note=note
        )
        return True
    trigger = definition.task_spec.schedule.on
    if trigger not in ("status", "date") or (trigger == "status" and task.due_at is not None):
        return False
    plan = plan_task(
        spec=definition.task_spec, execution=definition.execution, snapshot=snapshot, now=now
    )
    if trigger == "status":
        note = f"{snapshot.category.value} reached {snapshot.status}"
    else:
        date = definition.task_spec.schedule.date
        note = f"{date} moved: due {format_moment(plan.due_at, snapshot.timezone)}"
    return move_task(session=session, task=task, plan=plan, by=by, now=now, note=note)


def move_task(
    *, session: Session, task: Task, plan: Plan, by: str, now: datetime, note: str | None
) -> bool:
    """Give `task` the status and due moment of `plan`; whether anything changed."""
    if task.status == plan.status and task.due_at == plan.due_at:
        return False
    task.due_at = plan.due_at
    if task.status != plan.status:
        record_transition(
            session=session, task=task, to_status=plan.status, by=by, now=now, note=note
        )
    else:
        task.updated_at = now
        session.add(task)
    return True


def promote_due_tasks(
    *, session: Session, now: datetime, limit: int = 500, by: str = "automation"
) -> int:
    """Make up to `limit` scheduled tasks whose `due_at` has passed due; return how many."""
    statement = (
        select(Task, TaskDefinition.execution)
        .join(TaskDefinition, col(TaskDefinition.id) == Task.definition_id)
        .where(Task.status == TaskStatus.SCHEDULED.value)
        .where(col(Task.due_at) <= now)
        .order_by(col(Task.due_at), col(Task.id))
        .limit(limit)
        # Two sweeps at once each take different tasks (PostgreSQL; SQLite ignores it).
        .with_for_update(skip_locked=True, of=Task)
    )
    rows = session.exec(statement).all()
    for task, execution in rows:
        record_transition(
            session=session,
            task=task,
            to_status=due_status(execution),
            by=by,
            now=now,
            note=f"due since {human_moment(task.due_at)}" if task.due_at else None,
        )
    return len(rows)
