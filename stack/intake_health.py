"""The inbox half of `haulflow status`: refused and waiting drops, and whether `listen` runs."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from core.moments import human_moment
from core.settings import Settings
from ingestion.drops import count_drops, list_drops
from models import DropStatus
from models.heartbeats import LISTEN, LISTEN_STALE_SECONDS, is_alive, last_seen
from stack.report import Check

# Refusals older than this are history; `haulflow documents drops` still lists them.
REFUSED_LOOKBACK = timedelta(hours=24)
LISTED = 5


def intake_checks(*, session: Session, settings: Settings, now: datetime) -> list[Check]:
    """Refused drops of the last day, drops waiting for their entity, and `listen`."""
    checks = []
    since = now - REFUSED_LOOKBACK
    refused = count_drops(session=session, status=DropStatus.REFUSED, since=since)
    if refused:
        newest = list_drops(
            session=session, statuses=[DropStatus.REFUSED], since=since, limit=LISTED
        )
        checks.append(
            Check(
                "inbox drops",
                "warning",
                f"{refused} document(s) dropped in the inbox refused in the last 24 h",
                [f"{human_moment(row.updated_at)} {row.key}: {row.reason}" for row in newest],
                "fix what each reason says and write the object again; "
                "`haulflow documents drops` lists them all",
            )
        )
    pending = count_drops(session=session, status=DropStatus.PENDING)
    if pending:
        [oldest] = list_drops(session=session, statuses=[DropStatus.PENDING], limit=1)
        checks.append(
            Check(
                "waiting drops",
                "ok",
                f"{pending} inbox drop(s) wait for their order or trip to be imported",
                [f"e.g. {oldest.key} (refused after {human_moment(oldest.expires_at)})"],
            )
        )
    if settings.sqs_queue_url:
        checks.append(_listen_check(session, now))
    return checks


def _listen_check(session: Session, now: datetime) -> Check:
    heartbeat = last_seen(session=session, service=LISTEN)
    if is_alive(heartbeat, now):
        assert heartbeat is not None
        seconds = int((now - heartbeat.seen_at).total_seconds())
        return Check(
            "listen",
            "ok",
            f"`haulflow listen` runs ({heartbeat.id}), last poll {seconds} s ago",
        )
    seen = f"; last seen {human_moment(heartbeat.seen_at)}" if heartbeat else ""
    return Check(
        "listen",
        "problem",
        f"HAULFLOW_SQS_QUEUE_URL is set but no `haulflow listen` polled in the last "
        f"{LISTEN_STALE_SECONDS} s{seen}: documents dropped in the bucket are not recorded",
        advice="start `haulflow listen` (`haulflow up` starts it when the queue is set); its "
        "messages wait in the queue meanwhile",
    )
