"""Send claimed email tasks: one SMTP connection per mailbox per batch, record each message.

Each task is composed in a read-only session, each accepted message is archived and
recorded in its own commit right after the server's 250, and the task is completed when all
its messages are recorded. Messages already recorded for the task (a retry after some of a
groupage trip's e-mails went out) are not sent again. A failure to record after the server
accepted leaves the task `sending`: that is the uncertain case `claims.release_stale_claims`
settles by the definition's `on_uncertain_delivery`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from core.database import session_scope
from core.errors import HaulflowError
from core.secrets import read_secret
from core.settings import get_settings
from delivery.claims import complete_task, fail_task, postpone_task
from delivery.compose import ComposeError, PlannedEmail, compose_task
from delivery.record import record_sent, sent_message_ids
from lifecycle.entities import ENTITY_MODELS
from mail.compose import InvalidMessageError
from mail.smtp import PermanentSendError, SmtpAccount, SmtpConnection, open_smtp
from models import Category, Mailbox, Task, TaskDefinition, TaskStatus, utcnow
from storage.base import DocumentStore

logger = logging.getLogger("haulflow.delivery")

SmtpOpener = Callable[[Mailbox], AbstractContextManager[SmtpConnection]]


@dataclass(frozen=True)
class SentEmail:
    """One accepted message, for run artifacts and the CLI."""

    task_id: uuid.UUID
    entity: str
    definition_key: str
    recipients: tuple[str, ...]
    subject: str
    message_id: str
    attachments: int

    @classmethod
    def of(cls, email: PlannedEmail, *, task_id: uuid.UUID, entity: str, key: str) -> SentEmail:
        """The summary of a planned message the server accepted."""
        return cls(
            task_id,
            entity,
            key,
            email.recipients,
            email.subject,
            email.message_id,
            len(email.attachments),
        )


@dataclass(frozen=True)
class TaskProblem:
    """A task that failed or will be retried, with why."""

    task_id: uuid.UUID
    entity: str
    definition_key: str
    error: str


@dataclass
class DeliveryReport:
    """What one delivery did; reports of several batches add up with `merge`."""

    sent: list[SentEmail] = field(default_factory=list)
    completed: list[uuid.UUID] = field(default_factory=list)
    retrying: list[TaskProblem] = field(default_factory=list)
    failed: list[TaskProblem] = field(default_factory=list)
    uncertain: list[TaskProblem] = field(default_factory=list)

    def merge(self, other: DeliveryReport) -> None:
        self.sent += other.sent
        self.completed += other.completed
        self.retrying += other.retrying
        self.failed += other.failed
        self.uncertain += other.uncertain


# Written by `haulflow up` with its mail sink's address; removed when it stops.
RELAY_FILE = "smtp-relay"


def smtp_relay() -> str | None:
    """`host:port` every mailbox sends through, or None to use each mailbox's own server.

    `HAULFLOW_SMTP_RELAY`, else the mail sink of the `haulflow up` running on this var
    folder: a command typed in another shell (`tasks resend`, `explain`) sends where the
    stack's own runs send, not to the example configuration's servers.
    """
    settings = get_settings()
    if settings.smtp_relay:
        return settings.smtp_relay
    path = settings.var_dir / RELAY_FILE
    try:
        written = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return written or None


def mailbox_account(mailbox: Mailbox, password: str | None, *, timeout: float) -> SmtpAccount:
    """The SMTP account of a mailbox, with its password read; the relay (if any) wins."""
    relay = smtp_relay()
    if relay:
        host, _, port = relay.rpartition(":")
        return SmtpAccount(host=host, port=int(port), security="plain", timeout=timeout)
    return SmtpAccount(
        host=mailbox.smtp_host,
        port=mailbox.smtp_port,
        security=mailbox.smtp_security,
        username=mailbox.smtp_username,
        password=password,
        timeout=timeout,
        allow_plain_login=mailbox.allow_plain_login,
    )


@contextmanager
def open_mailbox(mailbox: Mailbox) -> Iterator[SmtpConnection]:
    """Connect to a mailbox's SMTP relay with its password read from where it is kept."""
    relayed = smtp_relay() is not None
    secret = mailbox.password_secret
    password = read_secret(secret) if secret and not relayed else None
    account = mailbox_account(mailbox, password, timeout=get_settings().smtp_timeout_seconds)
    with open_smtp(account) as connection:
        yield connection


@dataclass(frozen=True)
class _Job:
    task_id: uuid.UUID
    entity: str
    definition_key: str
    mailbox_key: str


def deliver_tasks(
    *,
    task_ids: list[uuid.UUID],
    store: DocumentStore,
    by: str = "automation",
    open_connection: SmtpOpener = open_mailbox,
    flow_run_id: uuid.UUID | None = None,
    now: Callable[[], datetime] = utcnow,
) -> DeliveryReport:
    """Send the messages of these `sending` tasks and record every outcome."""
    report = DeliveryReport()
    jobs = _load_jobs(task_ids)
    by_mailbox: dict[str, list[_Job]] = {}
    for job in jobs:
        by_mailbox.setdefault(job.mailbox_key, []).append(job)
    for mailbox_key, group in by_mailbox.items():
        pending = list(group)
        try:
            with session_scope() as session:
                mailbox = session.get(Mailbox, mailbox_key)
            assert mailbox is not None  # the claim joined it
            with open_connection(mailbox) as connection:
                while pending:
                    job = pending[0]
                    _deliver(job, connection, store, report, by, flow_run_id, now)
                    pending.pop(0)
        except HaulflowError as error:
            # The relay could not be reached or refused the login, or its secret is missing:
            # a mailbox problem, not the tasks'. They wait (with backoff, up to the last
            # attempt) rather than hundreds failing at once for one wrong password.
            for job in pending:
                reason = f"mailbox {mailbox_key}: {error}"
                _settle(job, reason, False, report, by, flow_run_id, now)
    return report


def _load_jobs(task_ids: list[uuid.UUID]) -> list[_Job]:
    with session_scope() as session:
        rows = session.exec(
            select(Task, TaskDefinition)
            .join(TaskDefinition, col(TaskDefinition.id) == Task.definition_id)
            .where(col(Task.id).in_(task_ids), Task.status == TaskStatus.SENDING.value)
            .order_by(col(Task.updated_at), col(Task.id))
        ).all()
        return [
            _Job(
                task.id,
                entity_label(session, task),
                definition.key,
                definition.mailbox_key or "",
            )
            for task, definition in rows
        ]


def entity_label(session: Session, task: Task) -> str:
    """`order:ORD-1001`, the entity of a task as people write it."""
    model = ENTITY_MODELS[Category(task.category)]
    entity = session.get(model, task.entity_id)
    return f"{task.category}:{entity.reference if entity else task.entity_id}"


def _deliver(
    job: _Job,
    connection: SmtpConnection,
    store: DocumentStore,
    report: DeliveryReport,
    by: str,
    flow_run_id: uuid.UUID | None,
    now: Callable[[], datetime],
) -> None:
    try:
        with session_scope() as session:
            task = session.get_one(Task, job.task_id)
            _, _, emails = compose_task(session=session, store=store, task=task, now=now())
            already = sent_message_ids(session=session, task_id=task.id)
    except (ComposeError, InvalidMessageError) as error:
        _settle(job, str(error), True, report, by, flow_run_id, now)
        return
    except HaulflowError as error:  # the store could not be read: try again later
        _settle(job, str(error), False, report, by, flow_run_id, now)
        return
    except Exception as error:
        # A bug or data no check foresaw: this task fails, with its traceback in the log;
        # the rest of the batch is sent and nothing is left `sending`.
        logger.exception("%s %s: could not compose the e-mail", job.definition_key, job.entity)
        reason = f"could not compose the e-mail ({type(error).__name__}: {error})"
        _settle(job, reason, True, report, by, flow_run_id, now)
        return
    notes = []
    for email in emails:
        if email.message_id in already:
            continue
        try:
            outcome = connection.send(
                email.data, envelope_from=email.envelope_from, recipients=list(email.recipients)
            )
        except HaulflowError as error:
            _settle(
                job, str(error), isinstance(error, PermanentSendError), report, by, flow_run_id, now
            )
            return
        except Exception as error:
            logger.exception("%s %s: could not send", job.definition_key, job.entity)
            reason = f"could not send the e-mail ({type(error).__name__}: {error})"
            _settle(job, reason, True, report, by, flow_run_id, now)
            return
        if not _record(job, email, outcome.refused, store, by, flow_run_id, now, report):
            return
        report.sent.append(
            SentEmail.of(email, task_id=job.task_id, entity=job.entity, key=job.definition_key)
        )
        refused = "".join(
            f"; refused {address}: {reply}" for address, reply in outcome.refused.items()
        )
        notes.append(f"{email.message_id} to {len(email.recipients)} recipient(s){refused}")
    with session_scope() as session:
        task = session.get_one(Task, job.task_id)
        note = "sent " + ", ".join(notes) if notes else "every message was already recorded"
        complete_task(
            session=session, task=task, now=now(), by=by, note=note, flow_run_id=flow_run_id
        )
    report.completed.append(job.task_id)


def _record(
    job: _Job,
    email: PlannedEmail,
    refused: dict[str, str],
    store: DocumentStore,
    by: str,
    flow_run_id: uuid.UUID | None,
    now: Callable[[], datetime],
    report: DeliveryReport,
) -> bool:
    try:
        with session_scope() as session:
            task, definition, mailbox = _load(session, job.task_id)
            record_sent(
                session=session,
                store=store,
                task=task,
                definition=definition,
                mailbox=mailbox,
                email=email,
                refused=refused,
                requested_by=by,
                now=now(),
                flow_run_id=flow_run_id,
            )
    except Exception as error:
        # Accepted by the server but not recorded: the task stays `sending` and the stale
        # claim rule decides (same Message-ID again, or held for a person).
        logger.error(
            "task %s: sent %s but could not record it: %s", job.task_id, email.message_id, error
        )
        report.uncertain.append(
            TaskProblem(job.task_id, job.entity, job.definition_key, str(error))
        )
        return False
    return True


def _settle(
    job: _Job,
    error: str,
    permanent: bool,
    report: DeliveryReport,
    by: str,
    flow_run_id: uuid.UUID | None,
    now: Callable[[], datetime],
) -> None:
    problem = TaskProblem(job.task_id, job.entity, job.definition_key, error)
    with session_scope() as session:
        task = session.get_one(Task, job.task_id)
        if permanent:
            fail_task(
                session=session, task=task, error=error, now=now(), by=by, flow_run_id=flow_run_id
            )
            retried = False
        else:
            retried = postpone_task(
                session=session, task=task, error=error, now=now(), by=by, flow_run_id=flow_run_id
            )
    if retried:
        logger.warning("%s %s: will retry: %s", job.definition_key, job.entity, error)
        report.retrying.append(problem)
    else:
        logger.error("%s %s failed: %s", job.definition_key, job.entity, error)
        report.failed.append(problem)


def _load(session: Session, task_id: uuid.UUID) -> tuple[Task, TaskDefinition, Mailbox]:
    task = session.get_one(Task, task_id)
    definition = session.get_one(TaskDefinition, task.definition_id)
    mailbox = session.get_one(Mailbox, definition.mailbox_key)
    return task, definition, mailbox
