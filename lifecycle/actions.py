"""People finishing tasks by hand: `tasks done|skip`, all or nothing, always in the history."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Literal, TypeVar

from sqlmodel import Session, col, select, update

from core.errors import ConflictError, HaulflowError, NotFoundError
from core.moments import human_moment
from core.suggestions import did_you_mean
from lifecycle.entity_page import SHORT_ID_LENGTH, describe_entity, load_entity_headers, short_id
from lifecycle.history import record_transition
from models import FINISHED_STATUSES, Communication, Task, TaskStatus, User

Outcome = Literal["done", "skip"]
M = TypeVar("M", Task, Communication)

OUTCOME_STATUSES: dict[str, TaskStatus] = {"done": TaskStatus.DONE, "skip": TaskStatus.SKIPPED}

_HEX_ID = re.compile(r"[0-9a-f]+")
# The length of the `task_events.note` column.
_NOTE_MAX = 2000
_HOW_TO_NAME = (
    f"give a task id or its first {SHORT_ID_LENGTH} characters, as `haulflow tasks list` shows"
)


def finish_tasks(
    *,
    session: Session,
    task_ids: list[str],
    outcome: Outcome,
    by: str,
    note: str | None,
    now: datetime,
) -> list[Task]:
    """Mark every task done or skipped by user `by`, or change nothing when any one cannot be."""
    note = note.strip() if note and note.strip() else None
    if note is not None and len(note) > _NOTE_MAX:
        raise HaulflowError(f"the note has {len(note)} characters; at most {_NOTE_MAX} fit")
    require_active_user(session=session, username=by)
    tasks = lock_tasks(session=session, tasks=find_tasks(session=session, task_ids=task_ids))
    labels = describe_tasks(session=session, tasks=tasks)
    refusals = [_refusal(task, labels[task.id]) for task in tasks]
    if problems := [refusal for refusal in refusals if refusal]:
        raise ConflictError(_nothing_changed(problems))
    to_status = OUTCOME_STATUSES[outcome]
    for task in tasks:
        record_transition(
            session=session, task=task, to_status=to_status, by=by, now=now, note=note
        )
    session.flush()
    return tasks


def _nothing_changed(problems: list[str]) -> str:
    return "\n".join(problems) + ("; " if len(problems) == 1 else "\n") + "nothing changed"


def _refusal(task: Task, label: str) -> str | None:
    if task.status in FINISHED_STATUSES:
        who = f" by {task.completed_by}" if task.completed_by else ""
        when = f" at {human_moment(task.completed_at)}" if task.completed_at else ""
        return f"task {label} is already {task.status}{who}{when}"
    if task.status == TaskStatus.SENDING:
        # Finishing it now would race the email being sent; its outcome decides.
        return f"task {label} is being sent right now; wait until it is done or failed"
    return None


def require_active_user(*, session: Session, username: str) -> User:
    """The active user `username`, or a `NotFoundError` that says how to add one."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is not None and user.active:
        return user
    if user is not None:
        raise NotFoundError(
            f"user '{username}' is inactive; what people do (finish, skip, send by hand) is "
            "recorded as an active user"
        )
    known = session.exec(select(User.username).where(col(User.active))).all()
    raise NotFoundError(
        f"unknown user '{username}'{did_you_mean(username, known)} — what people do (finish, "
        "skip, send by hand) is recorded as a known user; add the user under `users:` in the "
        "configuration or import it"
    )


def recorded_as(username: str, via: str | None) -> str:
    """Who the histories and the communication log name: the user, and the API token the
    request came through (`alice via api:tms`), within the 100 characters they hold."""
    return f"{username} via {via}"[:100] if via else username


def lock_tasks(*, session: Session, tasks: list[Task]) -> list[Task]:
    """`tasks` read again under a write lock held until the transaction ends.

    An update that changes nothing takes the rows' locks on PostgreSQL and the database's
    write lock on SQLite, where `SELECT ... FOR UPDATE` does not exist; the statuses read
    after it cannot be changed by anyone else first, so two people (or a person and the
    dispatcher) cannot both finish one task.
    """
    ids = [task.id for task in tasks]
    if not ids:
        return []
    touch = (
        update(Task)
        .where(col(Task.id).in_(ids))
        .values(updated_at=col(Task.updated_at))
        .execution_options(synchronize_session=False)
    )
    session.exec(touch)
    fresh = select(Task).where(col(Task.id).in_(ids)).execution_options(populate_existing=True)
    by_id = {task.id: task for task in session.exec(fresh)}
    return [by_id[task_id] for task_id in ids]


def find_tasks(*, session: Session, task_ids: list[str]) -> list[Task]:
    """Tasks named by ids or unique id prefixes of 8+ hex digits, in the order given, each once."""
    found: dict[uuid.UUID, Task] = {}
    problems: list[str] = []
    for text in task_ids:
        digits = parse_id_prefix(text)
        matches = [] if digits is None else match_id_prefix(session, Task, digits)
        if len(matches) == 1:
            found.setdefault(matches[0].id, matches[0])
        elif digits is None:
            problems.append(f"'{text}' is not a task id: {_HOW_TO_NAME}")
        elif not matches:
            problems.append(f"no task {text}: {_HOW_TO_NAME}")
        else:
            labels = describe_tasks(session=session, tasks=matches)
            candidates = ", ".join(f"{task.id} ({labels[task.id]})" for task in matches)
            problems.append(
                f"task id {text} matches several tasks: {candidates}; give more of the id"
            )
    if problems:
        raise NotFoundError(_nothing_changed(problems))
    return list(found.values())


def parse_id_prefix(text: str) -> str | None:
    digits = text.strip().lower().replace("-", "")
    if SHORT_ID_LENGTH <= len(digits) <= 32 and _HEX_ID.fullmatch(digits):
        return digits
    return None


def match_id_prefix(session: Session, model: type[M], digits: str, *, limit: int = 5) -> list[M]:
    """Rows of `model` whose id starts with the hex `digits` (at most `limit`)."""
    # A prefix is the range of ids it starts; both engines order ids as their hex digits,
    # so the primary key index serves it.
    low, high = uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))
    key = col(model.id)
    statement = select(model).where(key >= low, key <= high).limit(limit)
    return list(session.exec(statement).all())


def describe_tasks(*, session: Session, tasks: list[Task]) -> dict[uuid.UUID, str]:
    """`1a2b3c4d (send-pod on order ORD-1)` for each task, entities looked up in batches."""
    headers = load_entity_headers(
        session=session, keys=[(task.category, task.entity_id) for task in tasks]
    )
    return {
        task.id: f"{short_id(task.id)} ({task.definition_key} on "
        f"{describe_entity(headers, task.category, task.entity_id)})"
        for task in tasks
    }
