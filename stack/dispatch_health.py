"""The dispatcher half of `haulflow status`: are the dispatchers that send e-mails alive."""

from __future__ import annotations

from datetime import datetime, timedelta

from core.database import session_scope
from core.settings import get_settings
from delivery.dispatching import STALE_SECONDS, live_dispatchers
from stack.report import Check

# A stack this young may not have started its dispatchers yet (a flow-run start).
STARTING = timedelta(seconds=60)


def dispatcher_check(*, now: datetime, started_at: datetime | None) -> Check:
    """`HAULFLOW_DISPATCHERS` alive: ok; fewer: a warning; none: a problem."""
    wanted = get_settings().dispatchers
    with session_scope() as session:
        live = live_dispatchers(session=session, now=now)
    if wanted == 0:
        return Check("dispatchers", "ok", "none wanted (HAULFLOW_DISPATCHERS=0): the sweep sends")
    details = [
        f"{row.id} on {row.host}, running since {int((now - row.started_at).total_seconds())} s"
        for row in live
    ]
    if len(live) >= wanted:
        return Check("dispatchers", "ok", f"{len(live)} alive of {wanted} wanted", details)
    if started_at is not None and now - started_at < STARTING:
        return Check("dispatchers", "ok", f"{len(live)} of {wanted} alive: the stack is starting")
    return Check(
        "dispatchers",
        "problem" if not live else "warning",
        f"{len(live)} alive of {wanted} wanted (none seen in the last {STALE_SECONDS:.0f} s)"
        if not live
        else f"{len(live)} alive of {wanted} wanted",
        details,
        "the next sweep starts the missing ones (within HAULFLOW_SWEEP_INTERVAL_SECONDS); "
        "meanwhile ready e-mails wait for that sweep. If it persists, the dispatcher runs' "
        "logs in the Prefect UI say why they end",
    )
