"""`haulflow status`'s checks of the database: tasks ready but unsent, failed or stuck
sending; refused and waiting inbox drops and whether `listen` runs; the dispatchers alive.
Each check has a verdict, details and what to do; the Prefect server's are `stack.status`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from core.database import require_current_schema, session_scope
from core.errors import NotConfiguredError
from core.moments import human_moment
from core.settings import Settings, get_settings
from delivery.claims import paused_definition_keys
from delivery.dispatching import STALE_SECONDS, live_dispatchers
from ingestion.drops import count_drops, list_drops
from lifecycle.entity_page import describe_entity, load_entity_headers, short_id
from models import DropStatus, Mailbox, Task, TaskDefinition, TaskStatus
from models.heartbeats import LISTEN, LISTEN_STALE_SECONDS, is_alive, last_seen

Severity = Literal["ok", "warning", "problem"]


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, the verdict, details, and what to do."""

    name: str
    severity: Severity
    summary: str
    details: list[str] = field(default_factory=list)
    advice: str | None = None


def database_checks(*, now: datetime, stale_minutes: int) -> list[Check]:
    """The tasks' and the inbox's checks, or one problem when the database cannot answer."""
    try:
        require_current_schema()
        with session_scope() as session:
            health = read_task_health(session=session, now=now, stale_minutes=stale_minutes)
            intake = intake_checks(session=session, settings=get_settings(), now=now)
    except NotConfiguredError as error:
        # Its message says what to do (`haulflow db upgrade`).
        return [Check("database", "problem", str(error))]
    except SQLAlchemyError as error:
        return [
            Check(
                "database",
                "problem",
                f"the database cannot be read: {type(error).__name__}",
                [str(error.orig if hasattr(error, "orig") else error).strip()],
                "check HAULFLOW_DATABASE_URL and that the database server runs",
            )
        ]
    return task_checks(health, stale_minutes=stale_minutes) + intake


# Tasks

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
                "fix the cause (the error says it), then `haulflow tasks run TASK_KEY ENTITY "
                "--by YOU` sends it; `haulflow tasks list --status failed` lists them all",
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


# The inbox and `listen`

# Refusals older than this are history; `haulflow documents drops` still lists them.
REFUSED_LOOKBACK = timedelta(hours=24)
LISTED = 5


def intake_checks(*, session: Session, settings: Settings, now: datetime) -> list[Check]:
    """Refused drops of the last day, drops waiting for their entity, and `listen`."""
    checks = []
    since = now - REFUSED_LOOKBACK
    refused = count_drops(session=session, status=DropStatus.REFUSED, since=since)
    if refused:
        newest = list_drops(
            session=session, statuses=[DropStatus.REFUSED], since=since, limit=LISTED
        )
        checks.append(
            Check(
                "inbox drops",
                "warning",
                f"{refused} document(s) dropped in the inbox refused in the last 24 h",
                [f"{human_moment(row.updated_at)} {row.key}: {row.reason}" for row in newest],
                "fix what each reason says and write the object again; "
                "`haulflow documents drops` lists them all",
            )
        )
    pending = count_drops(session=session, status=DropStatus.PENDING)
    if pending:
        [oldest] = list_drops(session=session, statuses=[DropStatus.PENDING], limit=1)
        checks.append(
            Check(
                "waiting drops",
                "ok",
                f"{pending} inbox drop(s) wait for their order or trip to be imported",
                [f"e.g. {oldest.key} (refused after {human_moment(oldest.expires_at)})"],
            )
        )
    if settings.sqs_queue_url:
        checks.append(_listen_check(session, now))
    return checks


def _listen_check(session: Session, now: datetime) -> Check:
    heartbeat = last_seen(session=session, service=LISTEN)
    if is_alive(heartbeat, now):
        assert heartbeat is not None
        seconds = int((now - heartbeat.seen_at).total_seconds())
        return Check(
            "listen",
            "ok",
            f"`haulflow listen` runs ({heartbeat.id}), last poll {seconds} s ago",
        )
    seen = f"; last seen {human_moment(heartbeat.seen_at)}" if heartbeat else ""
    return Check(
        "listen",
        "problem",
        f"HAULFLOW_SQS_QUEUE_URL is set but no `haulflow listen` polled in the last "
        f"{LISTEN_STALE_SECONDS} s{seen}: documents dropped in the bucket are not recorded",
        advice="start `haulflow listen` (`haulflow up` starts it when the queue is set); its "
        "messages wait in the queue meanwhile",
    )


# The dispatchers

# A stack this young may not have started its dispatchers yet (a flow-run start).
STARTING = timedelta(seconds=60)


def dispatcher_check(*, now: datetime, started_at: datetime | None) -> Check:
    """`HAULFLOW_DISPATCHERS` alive: ok; fewer: a warning; none: a problem."""
    wanted = get_settings().dispatchers
    with session_scope() as session:
        live = live_dispatchers(session=session, now=now)
    if wanted == 0:
        return Check("dispatchers", "ok", "none wanted (HAULFLOW_DISPATCHERS=0): the sweep sends")
    details = [
        f"{row.id} on {row.host}, running since {int((now - row.started_at).total_seconds())} s"
        for row in live
    ]
    if len(live) >= wanted:
        return Check("dispatchers", "ok", f"{len(live)} alive of {wanted} wanted", details)
    if started_at is not None and now - started_at < STARTING:
        return Check("dispatchers", "ok", f"{len(live)} of {wanted} alive: the stack is starting")
    return Check(
        "dispatchers",
        "problem" if not live else "warning",
        f"{len(live)} alive of {wanted} wanted (none seen in the last {STALE_SECONDS:.0f} s)"
        if not live
        else f"{len(live)} alive of {wanted} wanted",
        details,
        "the next sweep starts the missing ones (within HAULFLOW_SWEEP_INTERVAL_SECONDS); "
        "meanwhile ready e-mails wait for that sweep. If it persists, the dispatcher runs' "
        "logs in the Prefect UI say why they end",
    )
