"""Turn one email task into the exact messages to send: who, which language, which documents.

Audiences (isolation): an order's, booking's or invoice's task sends one e-mail to its
recipients, leaving out any that belong to another party (a groupage trip's contact list
may hold another customer's address). A trip carrying the orders of several customers sends
one e-mail per customer to that customer's recipients only (its contacts, and trip contacts
that are its contacts), with only its orders and documents in the context and as
attachments, plus one e-mail covering the whole trip to the recipients of no party (other
trip contacts, fixed addresses), who are the trip's own. Recipients were resolved when the
task was created (a later contact change does not reach it) and carry the party they belong to.

Language: the first recipient of the audience whose language has a variant, else the
party's language, else the definition's default. Each message's `Message-ID` is derived
from the task, the audience and the sha256 of each attached document, so the same task and
document set always yields the same id, and a resend after a crash is recognisable.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from sqlmodel import Session

from core.addresses import format_named, shows_as_name
from core.errors import HaulflowError
from core.settings import get_settings
from delivery.context import (
    build_context,
    carried_orders,
    carrier_name,
    latest_documents,
    party_fields,
)
from lifecycle.entities import EntitySnapshot, load_snapshots
from mail.compose import Attachment, OutgoingEmail, build_message, make_message_id
from models import Category, Document, Mailbox, Task, TaskDefinition
from models.configuration.templates import render_subject, render_template
from storage.base import DocumentStore


class ComposeError(HaulflowError):
    """The task cannot become an e-mail (no recipient, template fails on this data, too
    large, a document altered in the store); retrying will not help, a person must act."""


@dataclass(frozen=True)
class PlannedEmail:
    """One message of a task, built and ready to send."""

    audience: str  # "party:<uuid>" or "trip"/"all"
    language: str
    recipients: tuple[str, ...]
    envelope_from: str
    subject: str
    message_id: str
    data: bytes
    attachments: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Resend:
    """A deliberate resend: a tag that gives new Message-IDs, and maybe one other address."""

    tag: str
    to: str | None = None


@dataclass(frozen=True)
class _Audience:
    key: str
    party_id: uuid.UUID | None
    recipients: list[dict[str, Any]]
    orders: list[EntitySnapshot]


def compose_task(
    *,
    session: Session,
    store: DocumentStore,
    task: Task,
    now: datetime,
    resend: Resend | None = None,
) -> tuple[TaskDefinition, Mailbox, list[PlannedEmail]]:
    """The task's definition (its own version), its mailbox, and its messages."""
    definition = session.get_one(TaskDefinition, task.definition_id)
    if not definition.mailbox_key:
        raise ComposeError(f"{definition.key} has no mailbox configured (mailbox: in the file)")
    mailbox = session.get_one(Mailbox, definition.mailbox_key)
    emails = compose_task_emails(
        session=session,
        store=store,
        task=task,
        definition=definition,
        mailbox=mailbox,
        carrier_name=carrier_name(session, definition),
        now=now,
        resend=resend,
    )
    return definition, mailbox, emails


def compose_task_emails(
    *,
    session: Session,
    store: DocumentStore,
    task: Task,
    definition: TaskDefinition,
    mailbox: Mailbox,
    carrier_name: str,
    now: datetime,
    resend: Resend | None = None,
) -> list[PlannedEmail]:
    """Every message of `task`, rendered, with attachments read from `store`."""
    category = Category(task.category)
    snapshot = load_snapshots(
        session=session,
        category=category,
        entity_ids=[task.entity_id],
        carrier_timezone=get_settings().timezone,
    ).get(task.entity_id)
    if snapshot is None:
        raise ComposeError(f"the {category.value} of task {task.id} no longer exists")
    audiences = split_audiences(snapshot, orders_of(session, snapshot), task.recipients)
    if not audiences:
        raise ComposeError(
            f"no recipients for {definition.key} on {category.value} {snapshot.reference}: "
            "give the customer's contacts the task's roles (or set trip contacts), then run "
            f"`haulflow tasks run {definition.key} {category.value}:{snapshot.reference}`"
        )
    return [
        _compose(
            session, store, task, definition, mailbox, carrier_name, snapshot, audience, now, resend
        )
        for audience in audiences
    ]


def orders_of(session: Session, snapshot: EntitySnapshot) -> list[EntitySnapshot]:
    """The orders whose documents and customers an entity's e-mails concern."""
    # An order carries itself: its snapshot is the one already loaded.
    if snapshot.category is Category.ORDER:
        return [snapshot]
    return carried_orders(session, snapshot.category, snapshot.id)


def addressed(
    session: Session, snapshot: EntitySnapshot, recipients: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The recipients the task's e-mails go to, and those left out (a contact of another
    customer than the order's, such as a groupage trip's contact)."""
    audiences = split_audiences(snapshot, orders_of(session, snapshot), recipients)
    reached = [r for audience in audiences for r in audience.recipients]
    return reached, [r for r in recipients if r not in reached]


def split_audiences(
    snapshot: EntitySnapshot, orders: list[EntitySnapshot], recipients: list[dict[str, Any]]
) -> list[_Audience]:
    """The e-mails of a task: one, or one per customer of a groupage trip plus the trip's."""
    customers = list(dict.fromkeys(party for order in orders for party in order.party_ids))
    if snapshot.category is not Category.TRIP or len(customers) <= 1:
        party = snapshot.party_ids[0] if len(snapshot.party_ids) == 1 else None
        # Whoever belongs to another party (a trip contact of a groupage trip) is left out.
        kept = [r for r in recipients if r.get("party_id") in (None, str(party))]
        return [_Audience("all", party, kept, orders)] if kept else []
    audiences = []
    for customer in customers:
        own = [r for r in recipients if r.get("party_id") == str(customer)]
        if own:
            mine = [order for order in orders if customer in order.party_ids]
            audiences.append(_Audience(f"party:{customer}", customer, own, mine))
    shared = [r for r in recipients if r.get("party_id") is None]
    if shared:
        audiences.append(_Audience("trip", None, shared, orders))
    return audiences


def _compose(
    session: Session,
    store: DocumentStore,
    task: Task,
    definition: TaskDefinition,
    mailbox: Mailbox,
    carrier_name: str,
    snapshot: EntitySnapshot,
    audience: _Audience,
    now: datetime,
    resend: Resend | None,
) -> PlannedEmail:
    types = list(definition.task_spec.attachments)
    documents = latest_documents(session, [order.id for order in audience.orders], types)
    references = {order.id: order.reference for order in audience.orders}
    names = attachment_names(documents, references)
    context = build_context(
        session=session,
        task=task,
        definition=definition,
        carrier_name=carrier_name,
        snapshot=snapshot,
        orders=audience.orders,
        documents=documents,
        attached_as=names,
    )
    language, variant = _variant(definition, audience, snapshot)
    where = f"{definition.key} ({language}) on {snapshot.category.value} {snapshot.reference}"
    try:
        subject = render_subject(variant["subject"], context)
        text = (
            render_template(variant["text"], context, html=False) if variant.get("text") else None
        )
        html = render_template(variant["html"], context, html=True) if variant.get("html") else None
    # A template valid on sample data can still fail on real data (a missing date, a None).
    except Exception as error:
        raise ComposeError(
            f"template of {where} fails on this entity's data: {type(error).__name__}: {error}; "
            "fix the template or the data, then `haulflow tasks run`"
        ) from None
    attachments, described = _attachments(store, documents, names)
    domain = mailbox.from_address.rpartition("@")[2] or "haulflow.invalid"
    parts = [str(task.id), audience.key, *(d.sha256 for d in documents)]
    if resend is not None:
        parts.append(resend.tag)
    message_id = make_message_id(*parts, domain=domain)
    recipients = tuple(str(r["email"]) for r in audience.recipients)
    to = tuple(_named(r) for r in audience.recipients)
    if resend is not None and resend.to is not None:
        recipients = to = (resend.to,)
    email = OutgoingEmail(
        from_address=format_named(mailbox.from_name or "", mailbox.from_address),
        to=to,
        subject=subject,
        message_id=message_id,
        text=text,
        html=html,
        reply_to=definition.reply_to,
        attachments=attachments,
        headers=(
            ("Auto-Submitted", "auto-generated"),
            ("X-Haulflow-Task", str(task.id)),
            ("X-Haulflow-Entity", f"{snapshot.category.value}:{snapshot.reference}"),
        ),
    )
    try:
        data = build_message(email, date=now, max_bytes=mailbox.max_message_bytes)
    except HaulflowError as error:
        raise ComposeError(f"{where}: {error}") from None
    return PlannedEmail(
        audience=audience.key,
        language=language,
        recipients=recipients,
        envelope_from=mailbox.bounce_address or mailbox.from_address,
        subject=subject,
        message_id=message_id,
        data=data,
        attachments=described,
    )


def _variant(
    definition: TaskDefinition, audience: _Audience, snapshot: EntitySnapshot
) -> tuple[str, dict[str, Any]]:
    email = definition.task_spec.email
    if not email:
        raise ComposeError(f"{definition.key} has no e-mail configured (email: in the file)")
    languages: dict[str, dict[str, Any]] = email["languages"]
    wanted = [r.get("language") for r in audience.recipients if r.get("party_id")]
    if audience.party_id is not None:
        for order in audience.orders or [snapshot]:
            party = party_fields(order, "customer") or party_fields(order, "party")
            if party is not None:
                wanted.append(party.get("language"))
    for language in wanted:
        if language in languages:
            return str(language), languages[str(language)]
    default = str(email["default_language"])
    return default, languages[default]


def attachment_names(documents: list[Document], references: dict[uuid.UUID, str]) -> list[str]:
    """`ORD-1001-pod.pdf` for each document, numbered when two would share a name."""
    names: list[str] = []
    for document in documents:
        suffix = PurePosixPath(document.storage_key).suffix
        stem = f"{references.get(document.order_id, 'document')}-{document.type}"
        name, count = f"{stem}{suffix}", 1
        while name in names:
            count += 1
            name = f"{stem}-{count}{suffix}"
        names.append(name)
    return names


def _attachments(
    store: DocumentStore, documents: list[Document], names: list[str]
) -> tuple[tuple[Attachment, ...], tuple[dict[str, Any], ...]]:
    attachments, described = [], []
    for document, name in zip(documents, names, strict=True):
        data = store.get(document.storage_key)
        if hashlib.sha256(data).hexdigest() != document.sha256:
            raise ComposeError(
                f"document {document.storage_key} in the store differs from the one recorded "
                f"(sha256 {document.sha256[:16]}…): upload the document again"
            )
        attachments.append(Attachment(name, document.content_type, data))
        described.append(
            {
                "document_id": str(document.id),
                "type": document.type,
                "filename": name,
                "sha256": document.sha256,
                "size": document.size,
            }
        )
    return tuple(attachments), tuple(described)


def _named(recipient: dict[str, Any]) -> str:
    """`Name <address>`; a contact's name that cannot show as one (its own address, or
    with `<` or `>`) is left out, and the e-mail still goes to the address."""
    name = str(recipient.get("name") or "")
    return format_named(name if shows_as_name(name) else "", str(recipient["email"]))
