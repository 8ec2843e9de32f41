"""The communication log: one row per email sent, the durable record of what went out."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow


class Communication(SQLModel, table=True):
    """An email accepted by an SMTP server, with what is needed to prove and re-send it."""

    __tablename__ = "communications"
    __table_args__ = (sa.Index("ix_communications_entity", "category", "entity_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    task_id: uuid.UUID = Field(foreign_key="tasks.id", index=True)
    definition_id: uuid.UUID = Field(foreign_key="task_definitions.id")
    category: str = Field(max_length=16)
    entity_id: uuid.UUID
    mailbox_key: str = Field(max_length=40)
    from_address: str = Field(max_length=254)
    reply_to: str | None = Field(default=None, max_length=254)
    recipients: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    subject: str = Field(max_length=998)
    message_id: str = Field(max_length=255, index=True)
    # [{"type": "pod", "filename": ..., "sha256": ..., "size": ...}]
    attachments: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    archive_key: str | None = Field(default=None, max_length=500)
    archive_sha256: str | None = Field(default=None, max_length=64)
    flow_run_id: uuid.UUID | None = None
    requested_by: str = Field(max_length=100)
    # Null for a task's first e-mails; why it was sent again otherwise (a resend, a document).
    cause: str | None = Field(default=None, max_length=300)
    sent_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
