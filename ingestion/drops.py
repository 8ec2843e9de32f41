"""The inbox's memory: drops refused for good, and drops waiting for their entity.

A drop `listen` cannot record at once gets one `inbox_drops` row per key:

- `refused`: it can never be recorded as it is (a key off the convention, not a scan, too
  large); its reason says what to do, `haulflow documents drops` lists it, `status` counts it;
- `pending`: its key names an order or trip not imported yet (a POD scanned before the TMS
  sent the order). It is taken in when the entity appears (right after `haulflow import`,
  else by the next sweep) and refused once `HAULFLOW_INBOX_PENDING_HOURS` have passed;
- `recorded`: a pending or refused drop recorded after all (its object was written again,
  or its entity appeared).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.moments import human_moment
from ingestion.inbox import DropAddress
from ingestion.notifications import ObjectCreated
from lifecycle.entities import ENTITY_MODELS
from models import Category, DropStatus, InboxDrop

_REASON_LIMIT = 2000


def _row(session: Session, event: ObjectCreated, now: datetime) -> InboxDrop:
    row = session.exec(select(InboxDrop).where(InboxDrop.key == event.key)).first()
    if row is None:
        row = InboxDrop(key=event.key, bucket=event.bucket, status="", reason="", first_seen_at=now)
    row.bucket, row.size, row.updated_at = event.bucket, event.size, now
    return row


def _address(row: InboxDrop, address: DropAddress | None) -> None:
    if address is not None:
        row.category, row.reference = address.ref.category.value, address.ref.reference
        row.document_type = address.doc_type.value


def remember_refused(
    *,
    session: Session,
    event: ObjectCreated,
    reason: str,
    now: datetime,
    address: DropAddress | None = None,
) -> InboxDrop:
    """Record that this object can never be recorded as it is, and why; the caller commits."""
    row = _row(session, event, now)
    row.status, row.reason, row.expires_at = DropStatus.REFUSED.value, reason[:_REASON_LIMIT], None
    _address(row, address)
    session.add(row)
    return row


def remember_pending(
    *,
    session: Session,
    event: ObjectCreated,
    address: DropAddress,
    reason: str,
    now: datetime,
    window: timedelta,
) -> InboxDrop:
    """Keep a drop whose entity does not exist yet, until `window` after it was first seen."""
    row = _row(session, event, now)
    if row.status != DropStatus.PENDING.value:
        row.first_seen_at = now
    row.status, row.reason = DropStatus.PENDING.value, reason[:_REASON_LIMIT]
    row.expires_at = row.first_seen_at + window
    _address(row, address)
    session.add(row)
    return row


def remember_recorded(
    *, session: Session, key: str, document_id: uuid.UUID, now: datetime
) -> InboxDrop | None:
    """A drop once refused or pending is recorded after all; None when it had no row."""
    row = session.exec(select(InboxDrop).where(InboxDrop.key == key)).first()
    if row is None or row.status == DropStatus.RECORDED.value:
        return None
    row.status, row.document_id, row.updated_at, row.expires_at = (
        DropStatus.RECORDED.value,
        document_id,
        now,
        None,
    )
    row.reason = f"recorded after all ({row.reason})"[:_REASON_LIMIT]
    session.add(row)
    return row


def pending_with_entity(*, session: Session, limit: int = 500) -> list[InboxDrop]:
    """Pending drops whose entity exists now, oldest first."""
    found: list[InboxDrop] = []
    for category in (Category.ORDER, Category.TRIP):
        model = ENTITY_MODELS[category]
        statement = (
            select(InboxDrop)
            .join(model, col(model.reference) == InboxDrop.reference)
            .where(InboxDrop.status == DropStatus.PENDING.value)
            .where(InboxDrop.category == category.value)
            .order_by(col(InboxDrop.first_seen_at), col(InboxDrop.id))
            .limit(limit)
        )
        found += session.exec(statement).all()
    return found


def expire_pending(*, session: Session, now: datetime) -> list[InboxDrop]:
    """Refuse the pending drops whose wait is over; return them. The caller commits."""
    expired = session.exec(
        select(InboxDrop)
        .where(InboxDrop.status == DropStatus.PENDING.value)
        .where(col(InboxDrop.expires_at) < now)
    ).all()
    for row in expired:
        since = human_moment(row.first_seen_at)
        row.status, row.updated_at, row.expires_at = DropStatus.REFUSED.value, now, None
        row.reason = (
            f"{row.category} {row.reference} was still not in haulflow when the wait for it "
            f"ended (dropped {since}); import it, then write the object again"
        )
        session.add(row)
    return list(expired)


def list_drops(
    *, session: Session, statuses: Sequence[DropStatus], since: datetime | None = None, limit: int
) -> list[InboxDrop]:
    """Drops in these statuses, newest first; only those changed since `since`, when given."""
    statement = (
        select(InboxDrop)
        .where(col(InboxDrop.status).in_([status.value for status in statuses]))
        .order_by(col(InboxDrop.updated_at).desc(), col(InboxDrop.key))
        .limit(limit)
    )
    if since is not None:
        statement = statement.where(col(InboxDrop.updated_at) >= since)
    return list(session.exec(statement).all())


def count_drops(*, session: Session, status: DropStatus, since: datetime | None = None) -> int:
    """How many drops are in `status` (changed since `since`, when given)."""
    statement = (
        select(sa.func.count()).select_from(InboxDrop).where(InboxDrop.status == status.value)
    )
    if since is not None:
        statement = statement.where(col(InboxDrop.updated_at) >= since)
    return int(session.exec(statement).one())
