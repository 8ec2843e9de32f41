"""Worklists across entities: overdue tasks per person, failed tasks, documents missing."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.errors import HaulflowError, NotFoundError
from core.suggestions import did_you_mean
from lifecycle.entity_page import (
    EntityHeader,
    is_overdue,
    load_entity_headers,
    overdue_before,
    short_id,
    to_plain,
)
from models import FINISHED_STATUSES, Category, Role, Task, TaskDefinition, TaskStatus, Team, User
from models.users import TeamMember

RESPONSIBLE_KINDS = ("user", "team", "role")


@dataclass(frozen=True)
class WorklistRow:
    """One task of a worklist with the entity it belongs to."""

    task_id: uuid.UUID
    short_id: str
    key: str
    name: str
    category: str
    entity: str
    entity_reference: str
    status: str
    execution: str
    responsible: str | None
    due_at: datetime | None
    overdue: bool
    attempts: int
    last_error: str | None
    created_at: datetime
    completed_at: datetime | None
    completed_by: str | None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able data: ISO timestamps, string ids."""
        plain: dict[str, Any] = to_plain(self)
        return plain

    def position(self) -> WorklistPosition:
        return WorklistPosition(self.due_at, self.created_at, self.task_id)


@dataclass(frozen=True)
class WorklistPosition:
    """Where a row sorts in a worklist: the next page starts after it."""

    due_at: datetime | None
    created_at: datetime
    task_id: uuid.UUID


def worklist(
    *,
    session: Session,
    statuses: list[TaskStatus] | None,
    category: Category | None,
    responsible: str | None,
    overdue: bool,
    documents_missing_days: int | None,
    now: datetime,
    limit: int,
    after: WorklistPosition | None = None,
) -> list[WorklistRow]:
    """Tasks across entities matching every filter given, soonest due first.

    `responsible` is `alice` (her tasks and her teams'), `user:alice`, `team:KEY` or
    `role:KEY`; `documents_missing_days` keeps tasks still waiting for documents N days
    after they were created; `after` continues a list after its last row (a page never
    repeats or skips a row, however many pages; each costs the same).
    """
    statement = select(Task, TaskDefinition).join(
        TaskDefinition, col(Task.definition_id) == col(TaskDefinition.id)
    )
    if statuses:
        statement = statement.where(col(Task.status).in_(statuses))
    if category is not None:
        statement = statement.where(Task.category == category.value)
    if responsible is not None:
        owners = resolve_responsible(session=session, text=responsible)
        statement = statement.where(col(Task.responsible).in_(owners))
    if overdue:
        statement = statement.where(
            col(Task.due_at) < overdue_before(now), col(Task.status).not_in(FINISHED_STATUSES)
        )
    if documents_missing_days is not None:
        statement = statement.where(
            Task.status == TaskStatus.WAITING_FOR_DOCUMENTS,
            col(Task.created_at) < now - timedelta(days=documents_missing_days),
        )
    if after is not None:
        statement = statement.where(_after(after))
    # Tasks without a due moment come last; the id makes the order stable between runs.
    statement = statement.order_by(
        col(Task.due_at).is_(None), col(Task.due_at), col(Task.created_at), col(Task.id)
    ).limit(limit)
    rows = session.exec(statement).all()
    headers = load_entity_headers(
        session=session, keys=[(task.category, task.entity_id) for task, _ in rows]
    )
    return [
        _row(task, definition, headers.get((task.category, task.entity_id)), now)
        for task, definition in rows
    ]


def _after(row: WorklistPosition) -> sa.ColumnElement[bool]:
    """The tasks sorted after `row`: (due_at, nulls last), created_at, id."""
    later = sa.or_(
        col(Task.created_at) > row.created_at,
        sa.and_(col(Task.created_at) == row.created_at, col(Task.id) > row.task_id),
    )
    if row.due_at is None:
        return sa.and_(col(Task.due_at).is_(None), later)
    return sa.or_(
        col(Task.due_at).is_(None),
        col(Task.due_at) > row.due_at,
        sa.and_(col(Task.due_at) == row.due_at, later),
    )


def _row(
    task: Task, definition: TaskDefinition, header: EntityHeader | None, now: datetime
) -> WorklistRow:
    return WorklistRow(
        task_id=task.id,
        short_id=short_id(task.id),
        key=task.definition_key,
        name=definition.name,
        category=task.category,
        entity=str(header) if header else f"{task.category} {task.entity_id}",
        entity_reference=header.reference if header else str(task.entity_id),
        status=task.status,
        execution=definition.execution,
        responsible=task.responsible,
        due_at=task.due_at,
        overdue=is_overdue(task.status, task.due_at, now),
        attempts=task.attempts,
        last_error=task.last_error,
        created_at=task.created_at,
        completed_at=task.completed_at,
        completed_by=task.completed_by,
    )


def resolve_responsible(*, session: Session, text: str) -> list[str]:
    """The `responsible` values a filter matches; a bare username adds the user's teams."""
    kind, separator, key = text.strip().partition(":")
    if not separator:
        user = _find_user(session, kind)
        teams = session.exec(select(TeamMember.team_key).where(TeamMember.user_id == user.id)).all()
        return [f"user:{user.username}", *(f"team:{team}" for team in teams)]
    if kind not in RESPONSIBLE_KINDS or not key:
        raise HaulflowError(
            f"'{text}' is not a responsible: write USERNAME (the user and their teams), "
            "user:USERNAME, team:KEY or role:KEY"
        )
    if kind == "user":
        _find_user(session, key)
    elif kind == "team" and session.get(Team, key) is None:
        raise _unknown("team", key, session.exec(select(Team.key)).all())
    elif kind == "role" and session.get(Role, key) is None:
        raise _unknown("role", key, session.exec(select(Role.key)).all())
    return [f"{kind}:{key}"]


def _find_user(session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise _unknown("user", username, session.exec(select(User.username)).all())
    return user


_WHERE_DEFINED = {
    "user": "add the user under `users:` in the configuration or import it",
    "team": "teams are declared under `teams:` in the configuration",
    "role": "roles are the built-in ones and those under `roles:` in the configuration",
}


def _unknown(kind: str, key: str, known: Sequence[str]) -> NotFoundError:
    return NotFoundError(
        f"unknown {kind} '{key}'{did_you_mean(key, known)} — {_WHERE_DEFINED[kind]}"
    )
