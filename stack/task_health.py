"""The database half of `haulflow status`: tasks ready but unsent, failed, stuck sending."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from core.moments import human_moment
from core.settings import get_settings
from delivery.claims import paused_definition_keys
from lifecycle.entity_page import describe_entity, load_entity_headers, short_id
from models import Mailbox, Task, TaskDefinition, TaskStatus
from stack.report import Check

# How many failed tasks the report lists (the count covers them all).
FAILED_LISTED = 5


@dataclass(frozen=True)
class TaskLine:
    """One task as the report names it: short id, key, entity, when, and its last error."""

    id: str
    key: str
    # `order:ORD-1`, as commands take it (`order:<id>` when the entity row is gone).
    entity: str
    at: datetime
    error: str | None = None

    @property
    def explain_command(self) -> str:
        return f"haulflow explain {self.key} {self.entity}"

    def __str__(self) -> str:
        line = f"{self.id} {self.key} on {self.entity}, since {human_moment(self.at)}"
        return f"{line}: {self.error}" if self.error else line


@dataclass
class TaskHealth:
    """Counts of tasks needing attention, with the oldest or newest of each named."""

    stale_ready: int = 0
    oldest_ready: TaskLine | None = None
    # Ready but held on purpose: their definition or mailbox is paused.
    paused_ready: int = 0
    failed: int = 0
    newest_failed: list[TaskLine] = field(default_factory=list)
    stuck_sending: int = 0
    oldest_sending: TaskLine | None = None


def read_task_health(*, session: Session, now: datetime, stale_minutes: int) -> TaskHealth:
    """What the task tables say: ready past `stale_minutes`, failed, sending past the timeout."""
    health = TaskHealth()
    cutoff = now - timedelta(minutes=stale_minutes)
    paused = _paused(session)
    stale = (
        select(Task)
        .join(TaskDefinition, col(TaskDefinition.id) == Task.definition_id)
        .outerjoin(Mailbox, col(Mailbox.key) == TaskDefinition.mailbox_key)
        .where(Task.status == TaskStatus.READY.value, col(Task.updated_at) < cutoff)
        # A task waiting for its retry moment is not late until that moment is past too.
        .where(sa.or_(col(Task.next_attempt_at).is_(None), col(Task.next_attempt_at) < cutoff))
    )
    health.paused_ready = _count(session, stale.where(paused))
    unpaused = stale.where(sa.not_(paused))
    health.stale_ready = _count(session, unpaused)
    oldest = session.exec(unpaused.order_by(col(Task.updated_at)).limit(1)).first()

    failed = select(Task).where(Task.status == TaskStatus.FAILED.value)
    health.failed = _count(session, failed)
    newest_failed = session.exec(
        failed.order_by(col(Task.updated_at).desc()).limit(FAILED_LISTED)
    ).all()

    timeout = timedelta(seconds=get_settings().sending_timeout_seconds)
    sending = select(Task).where(
        Task.status == TaskStatus.SENDING.value, col(Task.updated_at) < now - timeout
    )
    health.stuck_sending = _count(session, sending)
    oldest_sending = session.exec(sending.order_by(col(Task.updated_at)).limit(1)).first()

    named = [task for task in (oldest, oldest_sending, *newest_failed) if task is not None]
    headers = load_entity_headers(
        session=session, keys=[(task.category, task.entity_id) for task in named]
    )

    def line(task: Task, *, error: bool = False) -> TaskLine:
        return TaskLine(
            id=short_id(task.id),
            key=task.definition_key,
            entity=describe_entity(headers, task.category, task.entity_id).replace(" ", ":", 1),
            at=task.updated_at,
            error=task.last_error if error else None,
        )

    health.oldest_ready = line(oldest) if oldest else None
    health.oldest_sending = line(oldest_sending) if oldest_sending else None
    health.newest_failed = [line(task, error=True) for task in newest_failed]
    return health


def _paused(session: Session) -> sa.ColumnElement[bool]:
    """Held on purpose: the task's mailbox is paused, or its definition key is."""
    keys = paused_definition_keys(session=session)
    mailbox_paused = col(Mailbox.paused).is_(True)
    if not keys:
        return mailbox_paused
    return sa.or_(mailbox_paused, col(Task.definition_key).in_(sorted(keys)))


def _count(session: Session, statement: SelectOfScalar[Task]) -> int:
    counted = select(sa.func.count()).select_from(statement.subquery())
    return int(session.exec(counted).one())


def task_checks(health: TaskHealth, *, stale_minutes: int) -> list[Check]:
    """The report's lines for the task tables, each problem with what to do."""
    checks: list[Check] = []
    if health.stale_ready:
        oldest = health.oldest_ready
        checks.append(
            Check(
                "ready tasks",
                "problem",
                f"{health.stale_ready} task(s) ready but unsent for more than {stale_minutes} min",
                [f"oldest: {oldest}"] if oldest else [],
                "the dispatch does not send them: is the sweep running (see above)? "
                + (f"`{oldest.explain_command}` says what holds the oldest" if oldest else ""),
            )
        )
    else:
        checks.append(
            Check(
                "ready tasks", "ok", f"no task ready and unsent for more than {stale_minutes} min"
            )
        )
    if health.paused_ready:
        checks.append(
            Check(
                "paused tasks",
                "warning",
                f"{health.paused_ready} ready task(s) held by a paused mailbox or definition",
                advice="resume the mailbox or definition in the configuration when it is time",
            )
        )
    if health.failed:
        checks.append(
            Check(
                "failed tasks",
                "warning",
                f"{health.failed} failed task(s)",
                [f"{line}" for line in health.newest_failed],
                "fix the cause (the error says it), then `haulflow tasks resend TASK_ID`; "
                "`haulflow tasks list --status failed` lists them all",
            )
        )
    else:
        checks.append(Check("failed tasks", "ok", "no failed task"))
    if health.stuck_sending:
        oldest = health.oldest_sending
        checks.append(
            Check(
                "sending tasks",
                "warning",
                f"{health.stuck_sending} task(s) sending for longer than the sending timeout",
                [f"oldest: {oldest}"] if oldest else [],
                "the sweep settles them (resend or hold, per definition); if they stay, the "
                "sweep is not running",
            )
        )
    return checks
