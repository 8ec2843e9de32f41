"""Documents dropped in the bucket's inbox that could not be recorded (yet), and why."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow


class DropStatus(StrEnum):
    # The key names an entity not imported yet: taken in when it appears, until expires_at.
    PENDING = "pending"
    # It can never be recorded as it is (bad key, not a scan, too large, waited too long).
    REFUSED = "refused"
    # Recorded after all (a pending drop whose entity appeared, or a drop written again).
    RECORDED = "recorded"


class InboxDrop(SQLModel, table=True):
    """One inbox object that `listen` could not record at once: one row per key."""

    __tablename__ = "inbox_drops"
    __table_args__ = (
        sa.UniqueConstraint("key"),
        sa.Index("ix_inbox_drops_status_entity", "status", "category", "reference"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # The full object key in the bucket, as S3 announced it.
    key: str = Field(max_length=1024)
    bucket: str = Field(max_length=255)
    size: int = 0
    status: str = Field(max_length=16)
    reason: str = Field(max_length=2000)
    # What the key names, when it follows the convention (pending drops are matched by it).
    category: str | None = Field(default=None, max_length=16)
    reference: str | None = Field(default=None, max_length=64)
    document_type: str | None = Field(default=None, max_length=16)
    document_id: uuid.UUID | None = Field(default=None, foreign_key="documents.id")
    first_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True
    )
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
