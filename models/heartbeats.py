"""Long-running processes say they are alive: one `heartbeats` row each, refreshed as they go.

`listen` beats before each poll, `status` reads it (with an SQS queue configured, no `listen`
seen for `LISTEN_STALE_SECONDS` means drops in the bucket are not being recorded). The
dispatchers beat as they wait and send: their rows are their leases (`delivery.dispatching`),
so a killed dispatcher holds nothing once its row is stale.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

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


LISTEN = "listen"
# A poll waits at most 20 s (SQS's long poll) plus the time a batch takes.
LISTEN_STALE_SECONDS = 90


def heartbeat_id(service: str) -> str:
    """`listen@host:pid`: one row per running process."""
    return f"{service}@{socket.gethostname()}:{os.getpid()}"


def beat(*, engine: Engine, service: str, now: datetime, row_id: str | None = None) -> None:
    """Record that this process is alive now (a failure to write is the caller's to ignore).

    `row_id` names the row when a process holds several (default `heartbeat_id(service)`).
    """
    row_id = row_id or heartbeat_id(service)
    with Session(engine) as session:
        row = session.get(Heartbeat, row_id)
        if row is None:
            row = Heartbeat(
                id=row_id,
                service=service,
                host=socket.gethostname(),
                pid=os.getpid(),
                started_at=now,
            )
        row.seen_at = now
        session.add(row)
        session.commit()


def stop_beating(*, engine: Engine, service: str, row_id: str | None = None) -> None:
    """This process stops: forget its row, so `status` does not count it as alive."""
    with Session(engine) as session:
        row = session.get(Heartbeat, row_id or heartbeat_id(service))
        if row is not None:
            session.delete(row)
            session.commit()


def last_seen(*, session: Session, service: str) -> Heartbeat | None:
    """The most recently seen process of `service`, or None."""
    statement = (
        select(Heartbeat)
        .where(Heartbeat.service == service)
        .order_by(col(Heartbeat.seen_at).desc())
        .limit(1)
    )
    return session.exec(statement).first()


def alive(
    *, session: Session, service: str, now: datetime, stale_seconds: float
) -> list[Heartbeat]:
    """The processes of `service` seen within `stale_seconds`, oldest start first."""
    statement = (
        select(Heartbeat)
        .where(
            Heartbeat.service == service,
            col(Heartbeat.seen_at) >= now - timedelta(seconds=stale_seconds),
        )
        .order_by(col(Heartbeat.started_at), col(Heartbeat.id))
    )
    return list(session.exec(statement).all())


def is_alive(heartbeat: Heartbeat | None, now: datetime) -> bool:
    """Seen within `LISTEN_STALE_SECONDS`."""
    return heartbeat is not None and now - heartbeat.seen_at <= timedelta(
        seconds=LISTEN_STALE_SECONDS
    )
