"""`haulflow listen`: record the documents other systems write straight into the bucket.

Other systems drop documents under the inbox's key convention (`ingestion.inbox`, e.g.
`inbox/order/ORD-1001/pod/scan-123.pdf`). The listener reads the object and records it
exactly as `haulflow documents upload` would (a copy under the id-based `documents/` key,
the row, the opened gates, one commit, then the wake-up), with `source = "s3:<key>"`. The
inbox object stays where it is: another system owns it.

Each message is acknowledged once every object it announces is recorded, was recorded
before (same bytes: deduplicated), waits for its entity (`pending`: taken in once it is
imported) or can never be recorded (a key off the convention, content that is not a scan):
those are remembered in `inbox_drops` (`ingestion.drops`), logged as warnings naming the
key and what to do, and a refusal raises a `haulflow.inbox.drop.refused` Prefect event. A
transient failure (database or store unreachable) leaves the message for redelivery, and so
does an unexpected error, logged with its traceback: a dead-letter queue on the SQS queue (a
redrive policy) keeps such a message from coming back forever. haulflow's own writes
(`documents/`, `emails/`) are ignored.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from core.database import engine_for
from core.errors import HaulflowError
from core.events import emit_drop_refused
from core.settings import Settings, get_settings
from ingestion.drop_intake import DropOutcome, RecordedDrop, take_in_drop
from ingestion.notifications import NotificationSource, ObjectCreated, Received
from models import utcnow
from storage.base import DocumentStore

logger = logging.getLogger("haulflow.listen")

# How long the loop waits before polling again when the source itself fails.
SOURCE_RETRY_SECONDS = 5.0


@dataclass
class ListenReport:
    """What one batch of messages did, and which messages may be acknowledged."""

    recorded: list[RecordedDrop] = field(default_factory=list)
    already_recorded: list[str] = field(default_factory=list)
    ignored: int = 0
    # Key → why it can never be recorded (acknowledged) or must come back (not acknowledged).
    refused: dict[str, str] = field(default_factory=dict)
    # Key → which entity it waits for (acknowledged: the `inbox_drops` row remembers it).
    pending: dict[str, str] = field(default_factory=dict)
    retried: dict[str, str] = field(default_factory=dict)
    acknowledged: list[Received] = field(default_factory=list)


def handle_notifications(
    *, received: list[Received], store: DocumentStore, settings: Settings, now: datetime
) -> ListenReport:
    """Record every drop the messages announce; list the messages done with in the report."""
    report = ListenReport()
    engine = engine_for(settings.resolved_database_url)
    for message in received:
        if message.problem is not None:
            logger.warning("skipped a message: %s", message.problem)
            report.acknowledged.append(message)
            continue
        done = [
            _take_in(event, store=store, settings=settings, engine=engine, now=now, report=report)
            for event in message.events
        ]
        if all(done):
            report.acknowledged.append(message)
    return report


def _take_in(
    event: ObjectCreated,
    *,
    store: DocumentStore,
    settings: Settings,
    engine: Engine,
    now: datetime,
    report: ListenReport,
) -> bool:
    """Handle one object; False when it failed for now and its message must come back."""
    outcome = take_in_drop(event, store=store, settings=settings, engine=engine, now=now)
    if outcome.kind == "retry":
        report.retried[event.key] = outcome.message
        return False
    if outcome.kind == "ignored":
        report.ignored += 1
    elif outcome.kind == "already":
        report.already_recorded.append(event.key)
    elif outcome.kind == "pending":
        report.pending[event.key] = outcome.message
    elif outcome.kind == "refused":
        report.refused[event.key] = outcome.message
        _announce_refusal(outcome)
    elif outcome.recorded is not None and outcome.intake is not None:
        report.recorded.append(outcome.recorded)
    return True


def _announce_refusal(outcome: DropOutcome) -> None:
    """A Prefect event for a refused drop (automations may alert on it); never fails."""
    try:
        emit_drop_refused(key=outcome.key, reason=outcome.message, drop_id=outcome.drop_id)
    except Exception:
        logger.warning("no event for the refused %s", outcome.key, exc_info=True)


def listen(
    source: NotificationSource,
    *,
    store: DocumentStore,
    stop: threading.Event | None = None,
    wait_seconds: float = 10,
    settings: Settings | None = None,
    on_report: Callable[[ListenReport], None] | None = None,
    on_poll: Callable[[], None] | None = None,
    now: Callable[[], datetime] = utcnow,
) -> None:
    """Handle messages until `stop` is set or Ctrl-C; a batch in hand is always finished.

    `on_poll` runs before each poll (the heartbeat `status` reads). Ctrl-C while waiting
    returns at once; during a batch it stops after the batch (a second
    Ctrl-C aborts, and the unacknowledged messages come back).
    """
    stop = stop or threading.Event()
    settings = settings or get_settings()
    busy = False
    try:
        while not stop.is_set():
            if on_poll is not None:
                on_poll()
            received = _receive(source, wait_seconds, stop)
            if not received:
                continue
            busy = True
            with _finishing_on_interrupt(stop):
                report = handle_notifications(
                    received=received, store=store, settings=settings, now=now()
                )
                for message in report.acknowledged:
                    try:
                        source.acknowledge(message)
                    except HaulflowError as error:
                        # It comes back and is deduplicated: the same bytes are recorded once.
                        logger.warning("%s", error)
            busy = False
            if on_report is not None:
                on_report(report)
    except KeyboardInterrupt:
        # Between batches nothing is in hand: whatever the queue handed over unseen comes
        # back by itself. A second Ctrl-C during a batch aborts it, and is passed on.
        if busy:
            raise


def _receive(
    source: NotificationSource, wait_seconds: float, stop: threading.Event
) -> list[Received]:
    """The next messages; none, after a pause, when the source fails (it may come back)."""
    try:
        return source.receive(wait_seconds)
    except HaulflowError as error:
        logger.warning("%s; trying again in %.0f s", error, SOURCE_RETRY_SECONDS)
        stop.wait(SOURCE_RETRY_SECONDS)
        return []


@contextmanager
def _finishing_on_interrupt(stop: threading.Event) -> Iterator[None]:
    """Within the block, a first Ctrl-C sets `stop` instead of interrupting the work."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        logger.warning("stopping after the current messages (Ctrl-C again to abort)")
        stop.set()

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
