"""The dispatchers' leases and waits: how many run, who hands over to whom, when to look.

A dispatcher is a long-lived flow run (`flows/dispatcher.py`) that sends ready e-mail tasks
as soon as a commit makes them ready (`core.wakeups`). Its lease is its `heartbeats` row
(service `dispatcher`), refreshed every `BEAT_SECONDS`; a row unseen for `STALE_SECONDS`
belongs to a dispatcher that died. `HAULFLOW_DISPATCHERS` of them should be alive: the
newest ones stay, an older one that sees enough newer ones alive hands over (it finishes
its batch and ends), so a successor started at the end of a lifetime, or by a restarted
`serve`, takes over without a gap and without two sets running for long. No Prefect
concurrency slot is involved, so a killed process holds nothing but a row that goes stale.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from delivery.claims import has_sendable_tasks
from models import Heartbeat
from models.heartbeats import alive, beat, stop_beating

DISPATCHER = "dispatcher"
# A dispatcher beats between batches and while it waits; a batch of 200 sends at a relay's
# usual pace (tens of ms each) is a few seconds, so a minute unseen means it is gone.
BEAT_SECONDS = 5.0
STALE_SECONDS = 60.0


def lease_id(flow_run_id: uuid.UUID | None) -> str:
    """The lease's row id: the flow run's, or a fresh one outside Prefect."""
    return f"{DISPATCHER}:{flow_run_id or uuid.uuid4()}"


def hold_lease(*, engine: Engine, lease: str, now: datetime) -> None:
    """Take or refresh this dispatcher's lease."""
    beat(engine=engine, service=DISPATCHER, now=now, row_id=lease)


def drop_lease(*, engine: Engine, lease: str) -> None:
    """This dispatcher ends: its lease goes with it."""
    stop_beating(engine=engine, service=DISPATCHER, row_id=lease)


def live_dispatchers(*, session: Session, now: datetime) -> list[Heartbeat]:
    """The dispatchers seen within `STALE_SECONDS`, oldest first."""
    return alive(session=session, service=DISPATCHER, now=now, stale_seconds=STALE_SECONDS)


def superseded(*, session: Session, lease: str, replicas: int, now: datetime) -> bool:
    """True when `replicas` dispatchers started after this one are alive: it hands over."""
    live = [row.id for row in live_dispatchers(session=session, now=now)]
    if lease not in live:
        return False  # not registered yet (or its row went stale): it keeps going
    return len(live) - 1 - live.index(lease) >= replicas


def missing_dispatchers(*, session: Session, replicas: int, now: datetime) -> int:
    """How many more dispatchers should be started to have `replicas` alive."""
    return max(replicas - len(live_dispatchers(session=session, now=now)), 0)


def work_waiting(*, session: Session, now: datetime) -> bool:
    """An automatic e-mail task can be claimed now."""
    return has_sendable_tasks(session=session, now=now)
