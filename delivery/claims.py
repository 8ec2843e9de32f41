"""Claiming email tasks for sending, and what happens after: done, retry later, failed.

A claim moves `ready` tasks to `sending` in one short transaction (`FOR UPDATE SKIP LOCKED`
on PostgreSQL, so two dispatchers take different tasks; on SQLite the UPDATE re-tests the
status, so of two dispatchers that read the same rows only the first gets them).
The SMTP conversation happens after that commit, never inside a transaction. A task stays
`sending` until its outcome is recorded:

- every message accepted → `done`, by automation (or the person who ran it);
- a temporary failure (4xx, timeout, refused connection, store unreachable) → back to
  `ready` with `next_attempt_at` = now + base × 2^(attempt−1), capped; after the last
  attempt, `failed`;
- a permanent failure (5xx, every recipient refused, a template that fails on this data) →
  `failed` with the server's or the renderer's words.

A task left `sending` past `sending_timeout_seconds` belongs to a crashed run: the SMTP server
may or may not have accepted its message. `release_stale_claims` applies the definition's
`on_uncertain_delivery`: `resend` (default) makes it `ready` again, and the message goes out
with the same `Message-ID`, which receiving systems use to drop a duplicate; `hold` makes it
`open` for a person to check the mailbox's sent items and mark it done or resend it.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from core.moments import human_moment
from core.settings import get_settings
from lifecycle.history import claim_transition, record_transition
from models import ConfigVersion, Execution, Mailbox, Task, TaskDefinition, TaskStatus

_ERROR_LIMIT = 2000


def paused_definition_keys(*, session: Session) -> set[str]:
    """Keys paused in the latest configuration version (a pause reaches older tasks too)."""
    latest = sa.select(sa.func.max(ConfigVersion.id)).scalar_subquery()
    statement = select(TaskDefinition.key).where(
        TaskDefinition.config_version_id == latest, col(TaskDefinition.paused).is_(True)
    )
    return set(session.exec(statement).all())


def claim_ready_tasks(
    *,
    session: Session,
    now: datetime,
    by: str,
    limit: int,
    task_ids: list[uuid.UUID] | None = None,
    flow_run_id: uuid.UUID | None = None,
    due_by: datetime | None = None,
) -> list[uuid.UUID]:
    """Move up to `limit` sendable tasks to `sending`; return their ids, oldest first.

    Without `task_ids`: ready automatic email tasks whose retry moment has come, whose mailbox
    and definition are not paused. With `task_ids` (a person's run): those, whatever their
    execution, if they are ready and not paused. `due_by` (default `now`) bounds retry
    moments: a drain passes its start, so a task it postponed is not taken again in that run.
    """
    statement = (
        _sendable(session, due_by or now, task_ids)
        .order_by(col(Task.updated_at), col(Task.id))
        .limit(limit)
        .with_for_update(skip_locked=True, of=Task)
    )
    candidates = list(session.exec(statement).all())
    return claim_transition(
        session=session,
        task_ids=candidates,
        from_status=TaskStatus.READY,
        to_status=TaskStatus.SENDING,
        by=by,
        now=now,
        flow_run_id=flow_run_id,
    )


def has_sendable_tasks(*, session: Session, now: datetime) -> bool:
    """Whether `claim_ready_tasks` would find an automatic task to send now (no lock taken)."""
    return session.exec(_sendable(session, now, None).limit(1)).first() is not None


def _sendable(
    session: Session, due_by: datetime, task_ids: list[uuid.UUID] | None
) -> SelectOfScalar[uuid.UUID]:
    statement = (
        select(Task.id)
        .join(TaskDefinition, col(TaskDefinition.id) == Task.definition_id)
        .join(Mailbox, col(Mailbox.key) == TaskDefinition.mailbox_key)
        .where(Task.status == TaskStatus.READY.value)
        .where(col(Mailbox.paused).is_(False))
        .where(sa.or_(col(Task.next_attempt_at).is_(None), col(Task.next_attempt_at) <= due_by))
    )
    if task_ids is None:
        statement = statement.where(TaskDefinition.execution == Execution.AUTOMATIC.value)
    else:
        statement = statement.where(col(Task.id).in_(task_ids))
    paused = paused_definition_keys(session=session)
    if paused:
        statement = statement.where(col(Task.definition_key).not_in(paused))
    return statement


def complete_task(
    *,
    session: Session,
    task: Task,
    now: datetime,
    by: str,
    note: str,
    flow_run_id: uuid.UUID | None = None,
) -> None:
    """Every message of the task was accepted: the task is done."""
    task.next_attempt_at = None
    task.last_error = None
    task.resend_reason = None
    record_transition(
        session=session,
        task=task,
        to_status=TaskStatus.DONE,
        by=by,
        now=now,
        note=note,
        flow_run_id=flow_run_id,
    )


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt."""
    settings = get_settings()
    seconds = settings.send_retry_base_seconds * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.send_retry_max_seconds))


def postpone_task(
    *,
    session: Session,
    task: Task,
    error: str,
    now: datetime,
    by: str,
    flow_run_id: uuid.UUID | None = None,
) -> bool:
    """A temporary failure: back to `ready` for a later attempt, or `failed` after the last.

    Returns whether the task will be retried.
    """
    task.last_error = _bounded(error)
    if task.attempts >= get_settings().send_max_attempts:
        note = f"gave up after {task.attempts} attempts: {error}"
        fail_task(session=session, task=task, error=note, now=now, by=by, flow_run_id=flow_run_id)
        return False
    task.next_attempt_at = now + retry_delay(task.attempts)
    retry_at = human_moment(task.next_attempt_at, seconds=True)
    note = f"attempt {task.attempts} failed, next at {retry_at}: {error}"
    record_transition(
        session=session,
        task=task,
        to_status=TaskStatus.READY,
        by=by,
        now=now,
        note=_bounded(note),
        flow_run_id=flow_run_id,
    )
    return True


def fail_task(
    *,
    session: Session,
    task: Task,
    error: str,
    now: datetime,
    by: str,
    flow_run_id: uuid.UUID | None = None,
) -> None:
    """A permanent failure: the task ends `failed` with the reason."""
    task.last_error = _bounded(error)
    task.next_attempt_at = None
    record_transition(
        session=session,
        task=task,
        to_status=TaskStatus.FAILED,
        by=by,
        now=now,
        note=_bounded(error),
        flow_run_id=flow_run_id,
    )


def release_stale_claims(*, session: Session, now: datetime, by: str) -> list[uuid.UUID]:
    """Tasks `sending` for too long (a crashed run): resend or hold, per definition."""
    cutoff = now - timedelta(seconds=get_settings().sending_timeout_seconds)
    statement = (
        select(Task, TaskDefinition)
        .join(TaskDefinition, col(TaskDefinition.id) == Task.definition_id)
        .where(Task.status == TaskStatus.SENDING.value, col(Task.updated_at) < cutoff)
        .with_for_update(skip_locked=True, of=Task)
    )
    released = []
    for task, definition in session.exec(statement).all():
        if definition.task_spec.on_uncertain_delivery == "hold":
            to_status = TaskStatus.OPEN
            note = (
                "uncertain delivery (the sending run stopped): held for a person; check the "
                "mailbox's sent items, then `tasks done` or `tasks resend`"
            )
        else:
            to_status = TaskStatus.READY
            note = "uncertain delivery (the sending run stopped): sending again, same Message-ID"
        record_transition(
            session=session, task=task, to_status=to_status, by=by, now=now, note=note
        )
        released.append(task.id)
    return released


def release_unsent(
    *, session: Session, task_ids: list[uuid.UUID], now: datetime, by: str
) -> list[uuid.UUID]:
    """Give back claimed tasks no message of which was tried: `ready`, the attempt uncounted."""
    tasks = session.exec(
        select(Task).where(col(Task.id).in_(task_ids), Task.status == TaskStatus.SENDING.value)
    ).all()
    for task in tasks:
        task.attempts = max(task.attempts - 1, 0)
        record_transition(
            session=session,
            task=task,
            to_status=TaskStatus.READY,
            by=by,
            now=now,
            note="given back unsent: the sending run stopped before its turn",
        )
    return [task.id for task in tasks]


def _bounded(text: str) -> str:
    return text if len(text) <= _ERROR_LIMIT else text[: _ERROR_LIMIT - 1] + "…"
