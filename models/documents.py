"""Documents (POD, CMR, other) recorded for an order, optionally for one trip stop."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow


class DocumentType(StrEnum):
    POD = "pod"
    CMR = "cmr"
    OTHER = "other"


class Document(SQLModel, table=True):
    """A stored file; the database row, not the store listing, is what the gate reads."""

    __tablename__ = "documents"
    __table_args__ = (sa.UniqueConstraint("storage_key"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    order_id: uuid.UUID = Field(foreign_key="orders.id", index=True)
    trip_stop_id: uuid.UUID | None = Field(default=None, foreign_key="trip_stops.id", index=True)
    type: str = Field(max_length=16)
    storage_key: str = Field(max_length=500)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    size: int
    sha256: str = Field(max_length=64, index=True)
    source: str = Field(max_length=100)
    uploaded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
