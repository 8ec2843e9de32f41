"""Resend a task's e-mails on purpose (`haulflow tasks resend`), recorded with who asked.

A resend composes the task's e-mails again from the same recipients snapshot and the
documents on record, with new Message-IDs (a resend is a new message, not a duplicate a
server should drop). `--to` sends each of them to one address instead, one e-mail per
audience as before, so a groupage trip's customers still never share an e-mail.

The wire is the dispatcher's (`delivery.send_steps.send_job`): the same temporary and
permanent failures. A failed resend leaves the task as it was (done: its e-mail went out
before) and says what went out, what did not and whether trying again may help; a message
accepted but not recorded is named, never silently lost.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from core.database import session_scope
from core.errors import ConflictError, HaulflowError
from core.text import counted
from delivery.mailboxes import SmtpOpener, open_mailbox
from delivery.record import record_sent, task_communications
from delivery.reports import SentEmail
from delivery.send_steps import Composed, Failure, Job, entity_label, send_job
from delivery.task_emails import Resend, compose_task
from lifecycle.actions import recorded_as, require_active_user
from lifecycle.history import record_note, record_transition
from lifecycle.recipients import normalize_address
from models import Task, TaskStatus, utcnow
from storage.base import DocumentStore

logger = logging.getLogger("haulflow.delivery")


@dataclass(frozen=True)
class Resent:
    """The e-mails a resend sent and recorded, and why the rest did not go out."""

    sent: list[SentEmail]
    planned: int
    failure: Failure | None = None

    def problem(self) -> str | None:
        """What to tell the person who asked, when not everything went out."""
        if self.failure is None:
            return None
        kind = (
            "permanent: check the recipients and the mailbox, then resend"
            if self.failure.permanent
            else "temporary: try again later"
        )
        return (
            f"{len(self.sent)} of {counted(self.planned, 'e-mail')} resent; the next one failed "
            f"({kind}): {self.failure.reason}"
        )


def resend_task(
    *,
    task_id: uuid.UUID,
    store: DocumentStore,
    by: str,
    to: str | None = None,
    via: str | None = None,
    open_connection: SmtpOpener = open_mailbox,
    now: Callable[[], datetime] = utcnow,
) -> Resent:
    """Send a done task's e-mails again; every one accepted is archived and logged.

    An `open` task that already sent (reopened for a corrected document, or held after an
    uncertain delivery) may be resent too: it is done once the whole resend went out. `via`
    (an API token) is recorded beside the user `by`.
    """
    address = None
    if to is not None:
        address = normalize_address(to.strip())
        if address is None:
            raise ConflictError(f"--to {to!r} is not a valid e-mail address")
    with session_scope() as session:
        require_active_user(session=session, username=by)
        by = recorded_as(by, via)
        task = session.get_one(Task, task_id)
        previous = len(task_communications(session=session, task_id=task.id))
        reopened = task.status == TaskStatus.OPEN and previous > 0
        if task.status != TaskStatus.DONE and not reopened:
            raise ConflictError(
                f"task {task.id} is {task.status}, not done: `haulflow tasks run` sends it "
                "the first time"
            )
        definition, mailbox, emails = compose_task(
            session=session,
            store=store,
            task=task,
            now=now(),
            resend=Resend(tag=f"resend-{previous}", to=address),
        )
        job = Job(task.id, entity_label(session, task), definition.key, mailbox.key)
    if not emails:
        raise HaulflowError(f"task {task_id} has nothing to resend")
    with open_connection(mailbox) as connection:
        sending = send_job(job, Composed(emails, set(), definition, mailbox), connection)
    cause = f"resend by {by}" + (f" to {address}" if address else "")
    sent: list[SentEmail] = []
    for email, refused in sending.accepted:
        try:
            with session_scope() as session:
                task = session.get_one(Task, task_id)
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
                    cause=cause,
                )
                note = f"resent {email.message_id} to {', '.join(email.recipients)}"
                record_note(session=session, task=task, by=by, now=now(), note=note)
        except Exception as error:
            logger.error("task %s: resent %s, not recorded: %s", task_id, email.message_id, error)
            raise HaulflowError(
                f"task {task_id}: the server accepted {email.message_id} but it could not be "
                f"recorded ({error}); it is not in the communication log. "
                f"recorded before it: {counted(len(sent), 'e-mail')} of this resend"
            ) from None
        sent.append(SentEmail.of(email, task_id=task_id, entity=job.entity, key=job.definition_key))
    if reopened and sending.failure is None:
        with session_scope() as session:
            task = session.get_one(Task, task_id)
            record_transition(
                session=session,
                task=task,
                to_status=TaskStatus.DONE,
                by=by,
                now=now(),
                note="resent by hand",
            )
    return Resent(sent, len(emails), sending.failure)
