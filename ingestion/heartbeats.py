"""`listen` says it is alive: one `heartbeats` row per process, refreshed before each poll.

`haulflow status` reads them: with an SQS queue configured, no `listen` seen for
`LISTEN_STALE_SECONDS` means drops in the bucket are not being recorded.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from models import Heartbeat

LISTEN = "listen"
# A poll waits at most 20 s (SQS's long poll) plus the time a batch takes.
LISTEN_STALE_SECONDS = 90


def heartbeat_id(service: str) -> str:
    """`listen@host:pid`: one row per running process."""
    return f"{service}@{socket.gethostname()}:{os.getpid()}"


def beat(*, engine: Engine, service: str, now: datetime) -> None:
    """Record that this process is alive now (a failure to write is the caller's to ignore)."""
    with Session(engine) as session:
        row = session.get(Heartbeat, heartbeat_id(service))
        if row is None:
            row = Heartbeat(
                id=heartbeat_id(service),
                service=service,
                host=socket.gethostname(),
                pid=os.getpid(),
                started_at=now,
            )
        row.seen_at = now
        session.add(row)
        session.commit()


def stop_beating(*, engine: Engine, service: str) -> None:
    """This process stops: forget its row, so `status` does not count it as alive."""
    with Session(engine) as session:
        row = session.get(Heartbeat, heartbeat_id(service))
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


def is_alive(heartbeat: Heartbeat | None, now: datetime) -> bool:
    """Seen within `LISTEN_STALE_SECONDS`."""
    return heartbeat is not None and now - heartbeat.seen_at <= timedelta(
        seconds=LISTEN_STALE_SECONDS
    )
