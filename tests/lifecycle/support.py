"""Shared helpers of lifecycle tests (fixtures are in conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from lifecycle.generation import GenerationReport
from models import Task, TaskEvent
from models.configuration.store import ApplyReport

# The types of the `configure` and `generate` fixtures.
Configure = Callable[..., ApplyReport]
Generate = Callable[..., GenerationReport]

# A fixed "now" before every default date of the factories (pickup 2026-12-01, ...).
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

HEADER = """\
schema_version: 1
carrier: {name: Transports Test}
extra_fields: {trips: {contact_emails: true}}
mailboxes:
  - key: pod
    from: "Transports Test <pod@carrier.example>"
    smtp: {host: smtp.carrier.example}
"""

# The smallest e-mail an automatic task may carry; `EMAIL` in task YAML is replaced by it.
EMAIL = '{default_language: fr, languages: {fr: {subject: "Bonjour", text: "Bonjour"}}}'


def tasks_of(session: Session, entity_id: uuid.UUID) -> dict[str, Task]:
    """The tasks of one entity by definition key, read fresh from the database."""
    session.flush()
    session.expire_all()
    rows = session.exec(select(Task).where(Task.entity_id == entity_id)).all()
    return {task.definition_key: task for task in rows}


def events_of(session: Session, task: Task) -> list[TaskEvent]:
    """The history of one task, oldest first."""
    statement = select(TaskEvent).where(TaskEvent.task_id == task.id).order_by(col(TaskEvent.at))
    return list(session.exec(statement).all())
