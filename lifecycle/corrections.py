"""A document recorded after a task's e-mail went out with an earlier one of its type.

A driver re-scans a smudged POD, the TMS sends the signed CMR after the unsigned one: the
customer already has an e-mail with the earlier file. The task's definition says what then
(`on_corrected_document`), for every done task whose e-mail attached a document of that type
for that order (the order's own tasks and those of the trips carrying it):

- `ignore` (default): nothing is sent; the task's history notes the newer document, so
  `explain` and the upload say the e-mail went out with the earlier one;
- `notify`: the task is reopened (`open`) for its responsible person, who resends it
  (`haulflow tasks resend`) or marks it done;
- `resend`: the task is `ready` again and dispatch sends a new e-mail (its Message-ID changes
  with the documents' sha256), recorded as a resend caused by the document. A manual
  definition cannot send by itself: it is reopened as with `notify`.

For a groupage trip only the customer whose order got the document gets a new e-mail: the
other customers' e-mails keep their Message-IDs, which are already recorded.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from core.moments import human_moment
from lifecycle.history import record_note, record_transition
from models import (
    Category,
    Communication,
    Document,
    Execution,
    Order,
    Task,
    TaskDefinition,
    TaskStatus,
    TripOrder,
)

IGNORE, NOTIFY, RESEND = "ignore", "notify", "resend"


@dataclass(frozen=True)
class Correction:
    """A done task whose e-mail carried an earlier version of the new document."""

    task_id: uuid.UUID
    definition_key: str
    entity: str
    sent_at: datetime
    earlier: str
    policy: str
    action: str

    def __str__(self) -> str:
        return (
            f"{self.definition_key} on {self.entity} went out {human_moment(self.sent_at)} with "
            f"the earlier {self.earlier}; on_corrected_document: {self.policy}: {self.action}"
        )


def policy_of(definition: TaskDefinition) -> str:
    """The definition's `on_corrected_document` (versions before it existed: ignore)."""
    return definition.task_spec.on_corrected_document


def handle_corrected_document(
    *,
    session: Session,
    document: Document,
    earlier_versions: Collection[str],
    now: datetime,
    by: str,
) -> list[Correction]:
    """Apply each affected task's policy to a newly recorded `document`, given the ids of
    the earlier versions (the order's other documents of its type and stop); the caller
    commits."""
    same = set(earlier_versions)
    if not same:
        return []  # a first document of its type: no e-mail can have carried one
    corrections = []
    for task, definition, label in _done_tasks_attaching(session, document):
        earlier = _earlier_attachment(session, task, same)
        if earlier is None:
            continue
        sent_at, name = earlier
        policy = policy_of(definition)
        what = (
            f"{document.type} {document.filename} recorded after the e-mail of "
            f"{human_moment(sent_at)}"
        )
        corrections.append(
            Correction(
                task.id,
                task.definition_key,
                label,
                sent_at,
                f"{document.type} ({name})",
                policy,
                _apply(session, task, definition, policy, what, now=now, by=by),
            )
        )
    return corrections


def _apply(
    session: Session,
    task: Task,
    definition: TaskDefinition,
    policy: str,
    what: str,
    *,
    now: datetime,
    by: str,
) -> str:
    if policy == RESEND and definition.execution == Execution.AUTOMATIC:
        task.resend_reason = f"corrected document: {what}"[:300]
        task.attempts, task.next_attempt_at, task.last_error = 0, None, None
        record_transition(
            session=session,
            task=task,
            to_status=TaskStatus.READY,
            by=by,
            now=now,
            note=f"{what}: sending a new e-mail with it (on_corrected_document: resend)",
        )
        task.completed_at = task.completed_by = None
        return "a new e-mail with it goes out with the next dispatch"
    if policy in (RESEND, NOTIFY):
        record_transition(
            session=session,
            task=task,
            to_status=TaskStatus.OPEN,
            by=by,
            now=now,
            note=f"{what}: reopened for {task.responsible or 'a person'}; "
            f"`haulflow tasks resend {task.id.hex[:8]}` sends it, `tasks done` keeps the earlier",
        )
        task.completed_at = task.completed_by = None
        return f"task reopened for {task.responsible or 'a person'} to resend or close"
    record_note(
        session=session,
        task=task,
        by=by,
        now=now,
        note=f"{what}; not sent again (on_corrected_document: ignore)",
    )
    return f"nothing sent; `haulflow tasks resend {task.id.hex[:8]}` sends it"


def _done_tasks_attaching(
    session: Session, document: Document
) -> list[tuple[Task, TaskDefinition, str]]:
    """Done tasks of the document's order and of the trips carrying it attaching its type."""
    order = session.get_one(Order, document.order_id)
    trips = list(session.exec(select(TripOrder.trip_id).where(TripOrder.order_id == order.id)))
    found = []
    for category, ids in ((Category.ORDER, [order.id]), (Category.TRIP, trips)):
        if not ids:
            continue
        rows = session.exec(
            select(Task, TaskDefinition)
            .join(TaskDefinition, col(TaskDefinition.id) == Task.definition_id)
            .where(Task.category == category.value, col(Task.entity_id).in_(ids))
            .where(Task.status == TaskStatus.DONE.value)
        ).all()
        for task, definition in rows:
            if document.type in definition.task_spec.attachments:
                found.append((task, definition, _label(session, category, task.entity_id)))
    return found


def _label(session: Session, category: Category, entity_id: uuid.UUID) -> str:
    from lifecycle.entities import ENTITY_MODELS

    entity = session.get(ENTITY_MODELS[category], entity_id)
    return f"{category.value}:{entity.reference if entity else entity_id}"


def _earlier_attachment(
    session: Session, task: Task, same: set[str]
) -> tuple[datetime, str] | None:
    """When the task's last e-mail carried one of the documents `same`, and its name."""
    emails = session.exec(
        select(Communication)
        .where(Communication.task_id == task.id)
        .order_by(col(Communication.sent_at).desc())
    ).all()
    for email in emails:
        for attachment in email.attachments:
            if str(attachment.get("document_id")) in same:
                return email.sent_at, str(attachment["filename"])
    return None


def documents_after_last_email(
    *, session: Session, task: Task, definition: TaskDefinition
) -> list[Document]:
    """Documents of the task's attachment types recorded after its last e-mail, and in none
    of its e-mails: the newer versions its recipients have not received."""
    emails = session.exec(select(Communication).where(Communication.task_id == task.id)).all()
    if not emails:
        return []
    last = max(email.sent_at for email in emails)
    attached = {str(a.get("document_id")) for email in emails for a in email.attachments}
    types = list(definition.task_spec.attachments)
    if task.category == Category.ORDER.value:
        orders = [task.entity_id]
    elif task.category == Category.TRIP.value:
        orders = list(
            session.exec(select(TripOrder.order_id).where(TripOrder.trip_id == task.entity_id))
        )
    else:
        return []
    if not orders or not types:
        return []
    later = session.exec(
        select(Document)
        .where(col(Document.order_id).in_(orders), col(Document.type).in_(types))
        .where(col(Document.uploaded_at) > last)
        .order_by(col(Document.uploaded_at))
    ).all()
    return [document for document in later if str(document.id) not in attached]
