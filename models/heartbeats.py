"""Long-running haulflow processes (`listen`) saying they are alive, for `status`."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow


class Heartbeat(SQLModel, table=True):
    """One running process: `listen@host:pid`, and when it last finished a poll."""

    __tablename__ = "heartbeats"

    id: str = Field(primary_key=True, max_length=300)
    service: str = Field(max_length=40, index=True)
    host: str = Field(max_length=255)
    pid: int
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
