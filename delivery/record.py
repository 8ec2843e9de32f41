"""The communication log: each accepted message is archived byte for byte and recorded.

The archive (`emails/<task id>/<message hash>.eml` in the document store) holds exactly the
bytes the SMTP server accepted; the row keeps their sha256, so `communications download`
can prove the copy is the one sent. The row is the durable record (Prefect's run history is
vacuumed; this is not).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from delivery.task_emails import PlannedEmail
from lifecycle.entities import EntityRef, find_entity_id
from models import (
    Category,
    Communication,
    Document,
    Mailbox,
    Task,
    TaskDefinition,
    Trip,
    TripOrder,
)
from storage.base import DocumentStore


def archive_key(task_id: uuid.UUID, message_id: str) -> str:
    """Where the `.eml` of a message lives in the document store."""
    digest = hashlib.sha256(message_id.encode()).hexdigest()[:32]
    return f"emails/{task_id}/{digest}.eml"


def sent_message_ids(*, session: Session, task_id: uuid.UUID) -> set[str]:
    """Message-IDs already recorded for a task (a retry skips them)."""
    statement = select(Communication.message_id).where(Communication.task_id == task_id)
    return set(session.exec(statement).all())


def record_sent(
    *,
    session: Session,
    store: DocumentStore,
    task: Task,
    definition: TaskDefinition,
    mailbox: Mailbox,
    email: PlannedEmail,
    refused: dict[str, str],
    requested_by: str,
    now: datetime,
    flow_run_id: uuid.UUID | None = None,
    cause: str | None = None,
) -> Communication:
    """Archive the accepted bytes and add the communication-log row; the caller commits.

    `cause` says why a task that already sent is sending again (a resend, a corrected
    document); it defaults to the task's own `resend_reason`.
    """
    key = archive_key(task.id, email.message_id)
    store.put(key, email.data, content_type="message/rfc822")
    communication = Communication(
        id=uuid.uuid4(),
        task_id=task.id,
        definition_id=definition.id,
        category=task.category,
        entity_id=task.entity_id,
        mailbox_key=mailbox.key,
        from_address=mailbox.from_address,
        reply_to=definition.reply_to,
        recipients=[address for address in email.recipients if address not in refused],
        subject=email.subject[:998],
        message_id=email.message_id,
        attachments=list(email.attachments),
        archive_key=key,
        archive_sha256=hashlib.sha256(email.data).hexdigest(),
        flow_run_id=flow_run_id,
        requested_by=requested_by,
        cause=cause or task.resend_reason,
        sent_at=now,
    )
    session.add(communication)
    return communication


def task_communications(*, session: Session, task_id: uuid.UUID) -> list[Communication]:
    """The messages sent for a task, oldest first."""
    statement = (
        select(Communication)
        .where(Communication.task_id == task_id)
        .order_by(col(Communication.sent_at), col(Communication.id))
    )
    return list(session.exec(statement).all())


@dataclass(frozen=True)
class EntityEmail:
    """An e-mail about an entity: its own, or a trip's that carried an order's documents."""

    communication: Communication
    about: str


def entity_communications(*, session: Session, ref: EntityRef) -> list[EntityEmail]:
    """The entity's e-mails, oldest first; for an order, with the trip e-mails carrying its
    documents (a groupage trip's e-mail is the one its customer got)."""
    entity_id = find_entity_id(session=session, ref=ref)
    label = str(ref)
    own = session.exec(
        select(Communication)
        .where(Communication.category == ref.category.value)
        .where(Communication.entity_id == entity_id)
    ).all()
    found = [EntityEmail(row, label) for row in own]
    if ref.category is Category.ORDER:
        found += _trip_emails_carrying(session, entity_id)
    return sorted(found, key=lambda row: (row.communication.sent_at, str(row.communication.id)))


def _trip_emails_carrying(session: Session, order_id: uuid.UUID) -> list[EntityEmail]:
    trips = {
        trip.id: trip.reference
        for trip in session.exec(
            select(Trip)
            .join(TripOrder, col(TripOrder.trip_id) == Trip.id)
            .where(TripOrder.order_id == order_id)
        )
    }
    if not trips:
        return []
    documents = {
        str(document_id)
        for document_id in session.exec(select(Document.id).where(Document.order_id == order_id))
    }
    rows = session.exec(
        select(Communication)
        .where(Communication.category == Category.TRIP.value)
        .where(col(Communication.entity_id).in_(list(trips)))
    ).all()
    return [
        EntityEmail(row, f"trip:{trips[row.entity_id]}")
        for row in rows
        if any(str(a.get("document_id")) in documents for a in row.attachments)
    ]
