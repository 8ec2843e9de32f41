"""Record the documents the store holds but the database does not: the gate reads rows only.

`record_document` puts the bytes, then writes the row; a crash between the two leaves an
object that nobody recorded, and other systems (a driver app, a scanning service) may drop
files with the same layout straight into the bucket. Either way the document gate would wait
forever. Reconciliation lists `documents/` once, which costs one S3 LIST request per 1,000
keys, compares the keys with the recorded ones in one SELECT per 500, and GETs only the
objects without a row, to check that their content is what their key says before recording
them. Its cost grows with the bucket, never with the number of tasks or recorded documents.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from core.batches import in_chunks
from ingestion.documents import (
    InvalidDocumentError,
    check_upload,
    find_same_documents,
    insert_document_row,
)
from models import Document, DocumentType, Order
from storage.base import DocumentStore, ListedObject

SETTLE_TIME = timedelta(minutes=2)
PREFIX = "documents/"
SOURCE = "reconciliation"
# Bound on the keys a report carries: a bucket full of foreign files must not flood a log.
SHOWN_UNRECOGNIZED = 50
# One SELECT of recorded keys per chunk of listed keys, half a LIST page.
CHUNK_SIZE = 500

# The layout of `ingestion.documents.document_key`; type and extension are checked after.
_KEY = re.compile(
    r"documents/(?P<order>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"/(?P<type>[a-z]+)-(?P<sha>[0-9a-f]{16})(?P<extension>\.[a-z]+)"
)
_LAYOUT = "documents/<order id>/<pod|cmr|other>-<sha256[:16]><.pdf|.jpg|.png|.tif>"
_TYPES = frozenset(doc_type.value for doc_type in DocumentType)
_UPLOAD = "upload the file with `haulflow documents upload` instead"


@dataclass
class ReconciliationReport:
    """What one reconciliation listed and recorded, and the first keys it could not record."""

    listed: int = 0
    recorded: int = 0
    already_recorded: int = 0
    # Written moments ago: maybe an upload between its put and its commit; next sweep.
    too_recent: int = 0
    unrecognized_count: int = 0
    unrecognized: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    recorded_document_ids: list[uuid.UUID] = field(default_factory=list)
    recorded_order_ids: list[uuid.UUID] = field(default_factory=list)

    def refuse(self, key: str, reason: str) -> None:
        """Count `key` as unrecognized; keep it and why while fewer than 50 are kept."""
        self.unrecognized_count += 1
        if len(self.unrecognized) < SHOWN_UNRECOGNIZED:
            self.unrecognized.append(key)
            self.reasons[key] = reason


@dataclass(frozen=True)
class _Candidate:
    """An unrecorded key that follows the layout, with what the key claims."""

    listed: ListedObject
    order_id: uuid.UUID
    doc_type: DocumentType
    sha256_prefix: str
    extension: str


@dataclass(frozen=True)
class _Checked:
    """A candidate whose bytes were read and match its key."""

    candidate: _Candidate
    content_type: str
    size: int
    sha256: str


def reconcile_documents(
    *,
    session: Session,
    store: DocumentStore,
    now: datetime,
    max_bytes: int,
    limit: int | None = None,
) -> ReconciliationReport:
    """Record each object under `documents/` that has no row yet; the caller commits.

    An object is recorded when its key follows the layout of `record_document`, its order
    exists, its bytes pass the upload checks and hash to the key's sha256 prefix, and the
    same bytes are not already recorded for that order and type. Anything else is reported
    unrecognized and left alone. `limit` caps the rows written by one call: listing stops
    once it is reached, and the next call (after the commit) carries on.
    """
    report = ReconciliationReport()
    for chunk in in_chunks(store.list(PREFIX), CHUNK_SIZE):
        report.listed += len(chunk)
        recorded = _recorded_keys(session, [listed.key for listed in chunk])
        report.already_recorded += len(recorded)
        unrecorded = [
            listed for listed in chunk if listed.key not in recorded and _settled(listed, now)
        ]
        report.too_recent += len(chunk) - len(recorded) - len(unrecorded)
        candidates = _known_order_candidates(session, _parse_keys(unrecorded, report), report)
        room = None if limit is None else limit - report.recorded
        checked = _check_contents(store, candidates, max_bytes, room, report)
        _record(session, checked, now, report)
        if limit is not None and report.recorded >= limit:
            break
    return report


def _settled(listed: ListedObject, now: datetime) -> bool:
    # An upload puts the object, then commits its row: leaving young objects to the next
    # sweep keeps reconciliation from racing an upload for the same key.
    return listed.modified_at is None or now - listed.modified_at >= SETTLE_TIME


def _recorded_keys(session: Session, keys: list[str]) -> set[str]:
    return set(
        session.exec(select(Document.storage_key).where(col(Document.storage_key).in_(keys)))
    )


def _parse_keys(listed: Iterable[ListedObject], report: ReconciliationReport) -> list[_Candidate]:
    candidates = []
    for item in listed:
        match = _KEY.fullmatch(item.key)
        if match is None or match["type"] not in _TYPES:
            report.refuse(item.key, f"not {_LAYOUT}; {_UPLOAD}")
            continue
        candidates.append(
            _Candidate(
                listed=item,
                order_id=uuid.UUID(match["order"]),
                doc_type=DocumentType(match["type"]),
                sha256_prefix=match["sha"],
                extension=match["extension"],
            )
        )
    return candidates


def _known_order_candidates(
    session: Session, candidates: list[_Candidate], report: ReconciliationReport
) -> list[_Candidate]:
    # At most one chunk of ids, so one SELECT; unknown orders cost no GET.
    order_ids = {candidate.order_id for candidate in candidates}
    if not order_ids:
        return []
    known = set(session.exec(select(Order.id).where(col(Order.id).in_(order_ids))))
    kept = []
    for candidate in candidates:
        if candidate.order_id in known:
            kept.append(candidate)
        else:
            report.refuse(
                candidate.listed.key,
                f"no order has id {candidate.order_id}; import the order, the next run "
                "records the document",
            )
    return kept


def _check_contents(
    store: DocumentStore,
    candidates: list[_Candidate],
    max_bytes: int,
    room: int | None,
    report: ReconciliationReport,
) -> list[_Checked]:
    checked: list[_Checked] = []
    for candidate in candidates:
        if room is not None and len(checked) >= room:
            break
        key = candidate.listed.key
        # The listing gives the size: an oversized object is refused without downloading it.
        if candidate.listed.size > max_bytes:
            report.refuse(
                key,
                f"{candidate.listed.size:,} bytes; the limit is {max_bytes:,} "
                "(HAULFLOW_MAX_DOCUMENT_BYTES): compress or split the scan",
            )
            continue
        data = store.get(key)
        try:
            content_type, extension = check_upload(data, filename=key, max_bytes=max_bytes)
        except InvalidDocumentError as error:
            report.refuse(key, str(error))
            continue
        sha256 = hashlib.sha256(data).hexdigest()
        if extension != candidate.extension:
            report.refuse(
                key, f"the content is {content_type}, the key says {candidate.extension}; {_UPLOAD}"
            )
        elif not sha256.startswith(candidate.sha256_prefix):
            report.refuse(
                key, f"the content's sha256 starts {sha256[:16]}, not as the key says; {_UPLOAD}"
            )
        else:
            checked.append(_Checked(candidate, content_type, len(data), sha256))
    return checked


def _record(
    session: Session, checked: list[_Checked], now: datetime, report: ReconciliationReport
) -> None:
    identities = {
        (item.candidate.order_id, item.candidate.doc_type.value, item.sha256): item
        for item in checked
    }
    same = find_same_documents(session=session, identities=identities.keys())
    for identity, item in identities.items():
        if identity in same:
            # The same bytes recorded under another key: one row per content, as for uploads.
            report.already_recorded += 1
            continue
        candidate = item.candidate
        document = insert_document_row(
            session=session,
            order_id=candidate.order_id,
            trip_stop_id=None,
            doc_type=candidate.doc_type,
            storage_key=candidate.listed.key,
            filename=candidate.listed.key.rsplit("/", 1)[-1],
            content_type=item.content_type,
            size=item.size,
            sha256=item.sha256,
            source=SOURCE,
            now=now,
        )
        report.recorded += 1
        report.recorded_document_ids.append(document.id)
        if candidate.order_id not in report.recorded_order_ids:
            report.recorded_order_ids.append(candidate.order_id)
    session.flush()
