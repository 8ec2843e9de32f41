"""`haulflow listen`: record the documents other systems write straight into the bucket.

Other systems drop documents under the inbox's key convention (`ingestion.inbox`, e.g.
`inbox/order/ORD-1001/pod/scan-123.pdf`). The listener reads the object and records it
exactly as `haulflow documents upload` would (a copy under the id-based `documents/` key,
the row, the opened gates, one commit, then the wake-up), with `source = "s3:<key>"`. The
inbox object stays where it is: another system owns it.

Each message is acknowledged once every object it announces is recorded, was recorded
before (same bytes: deduplicated), or can never be (a key off the convention, an unknown
entity, content that is not a scan): those are logged as warnings naming the key and what to
do. A transient failure (database or store unreachable) leaves the message for redelivery,
and so does an unexpected error, logged with its traceback: a dead-letter queue on the SQS
queue (a redrive policy) keeps such a message from coming back forever. haulflow's own
writes (`documents/`, `emails/`) are ignored. The sweep stays the backstop for the wake-ups,
never for the inbox: an object refused here is read again only when it is written again.
"""

from __future__ import annotations

import logging
import signal
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from core.database import engine_for
from core.errors import HaulflowError, NotFoundError
from core.settings import Settings, get_settings
from ingestion.documents import InvalidDocumentError
from ingestion.inbox import InboxDrop, RefusedDropError, convention, inbox_location, locate_drop
from ingestion.intake import Intake, announce_document, record_and_open_gates
from ingestion.notifications import NotificationSource, ObjectCreated, Received
from models import Category, utcnow
from storage.base import DocumentStore, StoreError

logger = logging.getLogger("haulflow.listen")

# How long the loop waits before polling again when the source itself fails.
SOURCE_RETRY_SECONDS = 5.0


@dataclass(frozen=True)
class RecordedDrop:
    """A document recorded from the inbox."""

    key: str
    filename: str
    order_reference: str
    doc_type: str
    document_id: uuid.UUID
    size: int
    opened: int


@dataclass
class ListenReport:
    """What one batch of messages did, and which messages may be acknowledged."""

    recorded: list[RecordedDrop] = field(default_factory=list)
    already_recorded: list[str] = field(default_factory=list)
    ignored: int = 0
    # Key → why it can never be recorded (acknowledged) or must come back (not acknowledged).
    refused: dict[str, str] = field(default_factory=dict)
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
    where, source = f"s3://{event.bucket}/{event.key}", f"s3:{event.key}"
    drop: InboxDrop | None = None
    try:
        drop = locate_drop(event, settings)
        if drop is None:
            report.ignored += 1
            return True
        intake = _record(
            drop, event, source, store=store, settings=settings, engine=engine, now=now
        )
    except RefusedDropError as error:
        return _refuse(report, event.key, f"skipped {where}: {error}")
    except InvalidDocumentError as error:
        hint = ""
        if drop is not None and drop.ref.category is Category.TRIP and drop.stop is None:
            # The upload's advice names CLI options; a drop names the stop in its key.
            hint = f" (in the inbox: {convention(inbox_location(settings))})"
        return _refuse(report, event.key, f"skipped {where}: {error}{hint}")
    except NotFoundError as error:
        fix = "write the object again once it exists in haulflow (import it first)"
        return _refuse(report, event.key, f"skipped {where}: {error}; {fix}")
    except (HaulflowError, SQLAlchemyError) as error:
        report.retried[event.key] = str(error)
        logger.warning("could not record %s, it will come back: %s", where, error)
        return False
    except Exception as error:
        report.retried[event.key] = repr(error)
        logger.exception("could not record %s, it will come back", where)
        return False
    result = intake.result
    if not result.created:
        report.already_recorded.append(event.key)
        return True
    report.recorded.append(
        RecordedDrop(
            key=event.key,
            filename=result.document.filename,
            order_reference=result.order_reference,
            doc_type=result.document.type,
            document_id=result.document.id,
            size=result.document.size,
            opened=len(intake.opened),
        )
    )
    try:
        announce_document(intake, source=source)
    except Exception:
        # Committed already; a lost wake-up only delays the dispatch until the next sweep.
        logger.warning("no wake-up for %s; the next sweep will see it", where, exc_info=True)
    return True


def _refuse(report: ListenReport, key: str, message: str) -> bool:
    report.refused[key] = message
    logger.warning("%s", message)
    return True


def _record(
    drop: InboxDrop,
    event: ObjectCreated,
    source: str,
    *,
    store: DocumentStore,
    settings: Settings,
    engine: Engine,
    now: datetime,
) -> Intake:
    """Read the object, record it, open its gates and commit."""
    if event.size > settings.max_document_bytes:
        # Checked before reading: nobody downloads a 5 GB object to refuse it.
        raise InvalidDocumentError(
            f"{drop.filename} is {event.size:,} bytes; the limit is "
            f"{settings.max_document_bytes:,} (HAULFLOW_MAX_DOCUMENT_BYTES): compress or "
            "split the scan and write it again"
        )
    data = _read(store, drop.store_key)
    with Session(engine, expire_on_commit=False) as session:
        intake = record_and_open_gates(
            session=session,
            store=store,
            ref=drop.ref,
            doc_type=drop.doc_type,
            data=data,
            filename=drop.filename,
            source=source,
            max_bytes=settings.max_document_bytes,
            now=now,
            stop=drop.stop,
        )
        session.commit()
    return intake


def _read(store: DocumentStore, key: str) -> bytes:
    """The object's bytes; `RefusedDropError` when it is gone, `StoreError` when unreachable."""
    try:
        return store.get(key)
    except StoreError:
        try:
            gone = not store.exists(key)
        except Exception:
            gone = False
        if gone:
            raise RefusedDropError(
                "the object no longer exists (removed since it was written); nothing to record"
            ) from None
        raise


def listen(
    source: NotificationSource,
    *,
    store: DocumentStore,
    stop: threading.Event | None = None,
    wait_seconds: float = 10,
    settings: Settings | None = None,
    on_report: Callable[[ListenReport], None] | None = None,
    now: Callable[[], datetime] = utcnow,
) -> None:
    """Handle messages until `stop` is set or Ctrl-C; a batch in hand is always finished.

    Ctrl-C while waiting returns at once; during a batch it stops after the batch (a second
    Ctrl-C aborts, and the unacknowledged messages come back).
    """
    stop = stop or threading.Event()
    settings = settings or get_settings()
    busy = False
    try:
        while not stop.is_set():
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
