"""The three steps of sending one claimed task: compose, send, then record and settle.

`compose_job` reads (a session of its own, no write), `send_job` talks SMTP only (no
database), `finish_job` writes: each accepted message archived and recorded in its own
commit, then the task completed, or postponed or failed with the reason. `delivery.sender`
runs the three for consecutive tasks side by side; each step never raises for the task's
own data, so one task's failure never touches the rest of the batch.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from core.database import session_scope
from core.errors import HaulflowError
from delivery.claims import complete_task, fail_task, postpone_task
from delivery.record import record_sent, sent_message_ids
from delivery.reports import DeliveryReport, SentEmail, TaskProblem
from delivery.task_emails import ComposeError, PlannedEmail, compose_task
from lifecycle.entities import ENTITY_MODELS
from mail.compose import InvalidMessageError
from mail.smtp import PermanentSendError, SmtpConnection
from models import Category, Mailbox, Task, TaskDefinition, TaskStatus
from storage.base import DocumentStore

logger = logging.getLogger("haulflow.delivery")


@dataclass(frozen=True)
class Job:
    """A claimed task, as the steps name it."""

    task_id: uuid.UUID
    entity: str
    definition_key: str
    mailbox_key: str


@dataclass(frozen=True)
class Composed:
    """A task's e-mails, the Message-IDs already recorded for it (not sent again), and the
    definition and mailbox they were composed with (read once, for the record too)."""

    emails: list[PlannedEmail]
    already: set[str]
    definition: TaskDefinition
    mailbox: Mailbox


@dataclass(frozen=True)
class Failure:
    """Why a task's e-mails could not all go out, and whether trying again may help."""

    reason: str
    permanent: bool


@dataclass(frozen=True)
class Sending:
    """What sending a task did: the messages accepted (with refused recipients), and the
    failure that stopped it, if one did."""

    composed: Composed | None = None
    accepted: list[tuple[PlannedEmail, dict[str, str]]] = field(default_factory=list)
    failure: Failure | None = None


@dataclass(frozen=True)
class Context:
    """What every step of one delivery shares."""

    store: DocumentStore
    by: str
    flow_run_id: uuid.UUID | None
    now: Callable[[], datetime]


def load_jobs(task_ids: list[uuid.UUID]) -> list[Job]:
    """The tasks still `sending` among `task_ids`, oldest claim first."""
    with session_scope() as session:
        rows = session.exec(
            select(Task, TaskDefinition)
            .join(TaskDefinition, col(TaskDefinition.id) == Task.definition_id)
            .where(col(Task.id).in_(task_ids), Task.status == TaskStatus.SENDING.value)
            .order_by(col(Task.updated_at), col(Task.id))
        ).all()
        return [
            Job(task.id, entity_label(session, task), definition.key, definition.mailbox_key or "")
            for task, definition in rows
        ]


def entity_label(session: Session, task: Task) -> str:
    """`order:ORD-1001`, the entity of a task as people write it."""
    model = ENTITY_MODELS[Category(task.category)]
    entity = session.get(model, task.entity_id)
    return f"{task.category}:{entity.reference if entity else task.entity_id}"


def compose_job(job: Job, context: Context) -> Composed | Failure:
    """Compose one task's e-mails in a read-only session; never raises for the task's data."""
    try:
        with session_scope() as session:
            task = session.get_one(Task, job.task_id)
            definition, mailbox, emails = compose_task(
                session=session, store=context.store, task=task, now=context.now()
            )
            already = sent_message_ids(session=session, task_id=task.id)
            return Composed(emails, already, definition, mailbox)
    except (ComposeError, InvalidMessageError) as error:
        return Failure(str(error), permanent=True)
    except HaulflowError as error:  # the store could not be read: try again later
        return Failure(str(error), permanent=False)
    except Exception as error:
        # A bug or data no check foresaw: this task fails, with its traceback in the log;
        # the rest of the batch is sent and nothing is left `sending`.
        logger.exception("%s %s: could not compose the e-mail", job.definition_key, job.entity)
        return Failure(
            f"could not compose the e-mail ({type(error).__name__}: {error})", permanent=True
        )


def send_job(job: Job, composed: Composed | Failure, connection: SmtpConnection) -> Sending:
    """Send the task's messages not recorded yet; stop at the first that fails."""
    if isinstance(composed, Failure):
        return Sending(failure=composed)
    accepted: list[tuple[PlannedEmail, dict[str, str]]] = []
    for email in composed.emails:
        if email.message_id in composed.already:
            continue
        try:
            outcome = connection.send(
                email.data, envelope_from=email.envelope_from, recipients=list(email.recipients)
            )
        except HaulflowError as error:
            failure = Failure(str(error), permanent=isinstance(error, PermanentSendError))
            return Sending(composed, accepted, failure)
        except Exception as error:
            logger.exception("%s %s: could not send", job.definition_key, job.entity)
            failure = Failure(
                f"could not send the e-mail ({type(error).__name__}: {error})", permanent=True
            )
            return Sending(composed, accepted, failure)
        accepted.append((email, outcome.refused))
    return Sending(composed, accepted)


def finish_job(job: Job, sending: Sending, context: Context) -> DeliveryReport:
    """Record each accepted message, then complete the task or settle its failure.

    Each message is recorded in its own commit; when nothing failed, the last one's commit
    also completes the task (recorded and done together, or neither).
    """
    report = DeliveryReport()
    notes: list[str] = []
    last = len(sending.accepted) - 1
    for number, (email, refused) in enumerate(sending.accepted):
        refusals = "".join(f"; refused {address}: {reply}" for address, reply in refused.items())
        notes.append(f"{email.message_id} to {len(email.recipients)} recipient(s){refusals}")
        completing = number == last and sending.failure is None
        assert sending.composed is not None  # messages were accepted: they were composed
        written = _record(
            job, sending.composed, email, refused, context, report, notes if completing else None
        )
        if not written:
            return report  # accepted, not recorded: left `sending`, the uncertain case
        report.sent.append(
            SentEmail.of(email, task_id=job.task_id, entity=job.entity, key=job.definition_key)
        )
    if sending.failure is not None:
        settle(job, sending.failure, report, context)
        return report
    if not sending.accepted:  # a retry whose messages were all recorded before
        with session_scope() as session:
            task = session.get_one(Task, job.task_id)
            _complete(session, task, context, "every message was already recorded")
    report.completed.append(job.task_id)
    return report


def _complete(session: Session, task: Task, context: Context, note: str) -> None:
    complete_task(
        session=session,
        task=task,
        now=context.now(),
        by=context.by,
        note=note,
        flow_run_id=context.flow_run_id,
    )


def _record(
    job: Job,
    composed: Composed,
    email: PlannedEmail,
    refused: dict[str, str],
    context: Context,
    report: DeliveryReport,
    completing: list[str] | None,
) -> bool:
    """Archive and log one accepted message in its own commit (with the task's completion
    when `completing` holds the notes of all its messages); False if that failed."""
    try:
        with session_scope() as session:
            task = session.get_one(Task, job.task_id)
            record_sent(
                session=session,
                store=context.store,
                task=task,
                definition=composed.definition,
                mailbox=composed.mailbox,
                email=email,
                refused=refused,
                requested_by=context.by,
                now=context.now(),
                flow_run_id=context.flow_run_id,
            )
            if completing is not None:
                _complete(session, task, context, "sent " + ", ".join(completing))
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


def settle(job: Job, failure: Failure, report: DeliveryReport, context: Context) -> None:
    """A failure: postponed with backoff (up to the last attempt) or failed for good."""
    problem = TaskProblem(job.task_id, job.entity, job.definition_key, failure.reason)
    with session_scope() as session:
        task = session.get_one(Task, job.task_id)
        if failure.permanent:
            fail_task(
                session=session,
                task=task,
                error=failure.reason,
                now=context.now(),
                by=context.by,
                flow_run_id=context.flow_run_id,
            )
            retried = False
        else:
            retried = postpone_task(
                session=session,
                task=task,
                error=failure.reason,
                now=context.now(),
                by=context.by,
                flow_run_id=context.flow_run_id,
            )
    if retried:
        logger.warning("%s %s: will retry: %s", job.definition_key, job.entity, failure.reason)
        report.retrying.append(problem)
    else:
        logger.error("%s %s failed: %s", job.definition_key, job.entity, failure.reason)
        report.failed.append(problem)
