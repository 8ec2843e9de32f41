"""Take in one object written to the inbox: recorded, waiting for its entity, or refused.

`listen` calls `take_in_drop` for every object a notification announces, and the sweep
(and `haulflow import`) for every pending drop whose entity appeared. A drop is recorded
exactly as `haulflow documents upload` records a file (a copy under the id-based
`documents/` key, the row, the opened gates, one commit); the caller emits the wake-up.
Whatever cannot be recorded leaves a row (`ingestion.drops`), so nothing is forgotten:

- the entity does not exist yet → `pending` until it does (or until the wait is over);
- the key, bucket or content can never be recorded → `refused`, with what to do;
- the database or the store is unreachable → `retry`: the message comes back.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from core.errors import HaulflowError, NotFoundError
from core.moments import human_moment
from core.settings import Settings
from ingestion.documents import InvalidDocumentError
from ingestion.drops import (
    expire_pending,
    pending_with_entity,
    remember_pending,
    remember_recorded,
    remember_refused,
)
from ingestion.inbox import DropAddress, RefusedDropError, convention, inbox_location, locate_drop
from ingestion.intake import Intake, record_and_open_gates
from ingestion.notifications import ObjectCreated
from models import Category
from storage.base import DocumentStore, StoreError

logger = logging.getLogger("haulflow.listen")

Kind = Literal["recorded", "already", "ignored", "pending", "refused", "retry"]


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


@dataclass(frozen=True)
class DropOutcome:
    """What became of one object, and the message that says so."""

    kind: Kind
    key: str
    message: str = ""
    intake: Intake | None = None
    recorded: RecordedDrop | None = None
    # The `inbox_drops` row of a refused drop, for the Prefect event that announces it.
    drop_id: uuid.UUID | None = None


def take_in_drop(
    event: ObjectCreated,
    *,
    store: DocumentStore,
    settings: Settings,
    engine: Engine,
    now: datetime,
) -> DropOutcome:
    """Record, keep waiting, refuse or retry one written object; commits what it decides."""
    try:
        return _take_in(event, store=store, settings=settings, engine=engine, now=now)
    except SQLAlchemyError as error:
        # Remembering a refusal or a wait needs the database too: the message comes back.
        logger.warning(
            "could not record s3://%s/%s, it will come back: %s", event.bucket, event.key, error
        )
        return DropOutcome("retry", event.key, str(error))


def _take_in(
    event: ObjectCreated,
    *,
    store: DocumentStore,
    settings: Settings,
    engine: Engine,
    now: datetime,
) -> DropOutcome:
    where = f"s3://{event.bucket}/{event.key}"
    address: DropAddress | None = None
    try:
        address = locate_drop(event, settings)
        if address is None:
            return DropOutcome("ignored", event.key)
        intake = _record(address, event, store=store, settings=settings, engine=engine, now=now)
    except RefusedDropError as error:
        return _refuse(event, f"skipped {where}: {error}", address, engine=engine, now=now)
    except InvalidDocumentError as error:
        hint = ""
        if address is not None and address.ref.category is Category.TRIP and address.stop is None:
            # The upload's advice names CLI options; a drop names the stop in its key.
            hint = f" (in the inbox: {convention(inbox_location(settings))})"
        return _refuse(event, f"skipped {where}: {error}{hint}", address, engine=engine, now=now)
    except NotFoundError as error:
        assert address is not None  # only recording looks the entity up
        return _wait(event, address, str(error), settings=settings, engine=engine, now=now)
    except (HaulflowError, SQLAlchemyError) as error:
        logger.warning("could not record %s, it will come back: %s", where, error)
        return DropOutcome("retry", event.key, str(error))
    except Exception as error:
        logger.exception("could not record %s, it will come back", where)
        return DropOutcome("retry", event.key, repr(error))
    result = intake.result
    if not result.created:
        return DropOutcome("already", event.key, intake=intake)
    recorded = RecordedDrop(
        key=event.key,
        filename=result.document.filename,
        order_reference=result.order_reference,
        doc_type=result.document.type,
        document_id=result.document.id,
        size=result.document.size,
        opened=len(intake.opened),
    )
    return DropOutcome("recorded", event.key, intake=intake, recorded=recorded)


@dataclass
class WaitingReport:
    """What taking in the pending drops did: recorded, refused (their wait is over), retried."""

    recorded: list[DropOutcome] = field(default_factory=list)
    refused: list[DropOutcome] = field(default_factory=list)
    still_waiting: int = 0
    retried: int = 0


def take_in_waiting(
    *,
    store: DocumentStore,
    settings: Settings,
    engine: Engine,
    now: datetime,
    expire: bool = True,
) -> WaitingReport:
    """Record the pending drops whose entity exists now; with `expire`, refuse the drops
    whose wait is over (the sweep does, an import does not)."""
    report = WaitingReport()
    with Session(engine) as session:
        rows = pending_with_entity(session=session)
    for row in rows:
        event = ObjectCreated(bucket=row.bucket, key=row.key, size=row.size)
        outcome = take_in_drop(event, store=store, settings=settings, engine=engine, now=now)
        if outcome.kind in ("recorded", "already"):
            report.recorded.append(outcome)
        elif outcome.kind == "refused":
            report.refused.append(outcome)
        elif outcome.kind == "pending":
            report.still_waiting += 1
        else:
            report.retried += 1
    if expire:
        with Session(engine, expire_on_commit=False) as session:
            expired = expire_pending(session=session, now=now)
            session.commit()
        report.refused += [
            DropOutcome("refused", row.key, row.reason, drop_id=row.id) for row in expired
        ]
    return report


def _refuse(
    event: ObjectCreated,
    message: str,
    address: DropAddress | None,
    *,
    engine: Engine,
    now: datetime,
) -> DropOutcome:
    with Session(engine, expire_on_commit=False) as session:
        row = remember_refused(
            session=session, event=event, reason=message, now=now, address=address
        )
        session.commit()
    logger.warning("%s", message)
    return DropOutcome("refused", event.key, message, drop_id=row.id)


def _wait(
    event: ObjectCreated,
    address: DropAddress,
    missing: str,
    *,
    settings: Settings,
    engine: Engine,
    now: datetime,
) -> DropOutcome:
    window = timedelta(hours=settings.inbox_pending_hours)
    with Session(engine, expire_on_commit=False) as session:
        row = remember_pending(
            session=session,
            event=event,
            address=address,
            reason=missing,
            now=now,
            window=window,
        )
        session.commit()
    message = (
        f"waiting for {address.ref.category.value} {address.ref.reference}, not imported yet: "
        f"recorded once it is (until {human_moment(row.expires_at)})"
    )
    logger.warning("s3://%s/%s: %s", event.bucket, event.key, message)
    return DropOutcome("pending", event.key, message)


def _record(
    address: DropAddress,
    event: ObjectCreated,
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
            f"{address.filename} is {event.size:,} bytes; the limit is "
            f"{settings.max_document_bytes:,} (HAULFLOW_MAX_DOCUMENT_BYTES): compress or "
            "split the scan and write it again"
        )
    data = _read(store, address.store_key)
    source = f"s3:{event.key}"
    with Session(engine, expire_on_commit=False) as session:
        intake = record_and_open_gates(
            session=session,
            store=store,
            ref=address.ref,
            doc_type=address.doc_type,
            data=data,
            filename=address.filename,
            source=source,
            max_bytes=settings.max_document_bytes,
            now=now,
            stop=address.stop,
        )
        remember_recorded(
            session=session, key=event.key, document_id=intake.result.document.id, now=now
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
