"""Resend a task's e-mails on purpose (`haulflow tasks resend`), recorded with who asked.

A resend composes the task's e-mails again from the same recipients snapshot and the
documents on record, with new Message-IDs (a resend is a new message, not a duplicate a
server should drop). `--to` sends each of them to one address instead, one e-mail per
audience as before, so a groupage trip's customers still never share an e-mail.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from core.database import session_scope
from core.errors import ConflictError, HaulflowError
from delivery.mailboxes import SmtpOpener, open_mailbox
from delivery.record import record_sent, task_communications
from delivery.reports import SentEmail
from delivery.send_steps import entity_label
from delivery.task_emails import Resend, compose_task
from lifecycle.actions import require_active_user
from lifecycle.history import record_note, record_transition
from lifecycle.recipients import normalize_address
from models import Task, TaskStatus, utcnow
from storage.base import DocumentStore


def resend_task(
    *,
    task_id: uuid.UUID,
    store: DocumentStore,
    by: str,
    to: str | None = None,
    open_connection: SmtpOpener = open_mailbox,
    now: Callable[[], datetime] = utcnow,
) -> list[SentEmail]:
    """Send a done task's e-mails again; every one accepted is archived and logged.

    An `open` task that already sent (reopened for a corrected document, or held after an
    uncertain delivery) may be resent too: it is done once the resend went out.
    """
    address = None
    if to is not None:
        address = normalize_address(to.strip())
        if address is None:
            raise ConflictError(f"--to {to!r} is not a valid e-mail address")
    with session_scope() as session:
        require_active_user(session=session, username=by)
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
        entity = entity_label(session, task)
    sent: list[SentEmail] = []
    with open_connection(mailbox) as connection:
        for email in emails:
            outcome = connection.send(
                email.data, envelope_from=email.envelope_from, recipients=list(email.recipients)
            )
            with session_scope() as session:
                task = session.get_one(Task, task_id)
                record_sent(
                    session=session,
                    store=store,
                    task=task,
                    definition=definition,
                    mailbox=mailbox,
                    email=email,
                    refused=outcome.refused,
                    requested_by=by,
                    now=now(),
                    cause=f"resend by {by}" + (f" to {address}" if address else ""),
                )
                note = f"resent {email.message_id} to {', '.join(email.recipients)}"
                record_note(session=session, task=task, by=by, now=now(), note=note)
            sent.append(SentEmail.of(email, task_id=task_id, entity=entity, key=definition.key))
    if not sent:
        raise HaulflowError(f"task {task_id} has nothing to resend")
    if reopened:
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
    return sent
