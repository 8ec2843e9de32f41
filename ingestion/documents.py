"""Record an uploaded POD, CMR or other document against exactly one order.

The bytes go to the document store first, then the `documents` row: if the row cannot be
written the object stays in the store unrecorded, which `delivery.reconciliation` treats like
any object another system dropped there. The same bytes uploaded twice for the same order and
type are recorded once.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from core.batches import in_chunks
from core.errors import HaulflowError
from lifecycle.entities import EntityRef, find_entity_id, missing_entity
from models import Category, Document, DocumentType, Order, TripOrder, TripStop
from storage.base import DocumentStore

# Magic numbers of what drivers' apps and scanners produce; anything else is refused.
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"II*\x00", "image/tiff", ".tif"),
    (b"MM\x00*", "image/tiff", ".tif"),
)

# Order id, type and sha256: the same bytes are recorded once per order and type.
DocumentIdentity = tuple[uuid.UUID, str, str]


class InvalidDocumentError(HaulflowError):
    """The upload is empty, too large, of the wrong kind, or matches no single order."""


@dataclass(frozen=True)
class UploadResult:
    """The recorded document and whether this upload created it (False: same bytes again)."""

    document: Document
    created: bool
    order_reference: str
    # The ids of the order's other documents of this type and stop: earlier versions.
    earlier_versions: frozenset[str] = frozenset()
    # What the upload read on its way, handed to the document gate so that it does not read
    # it again: the types the order has recorded (this one included) and, when the upload
    # named the order, the trips carrying it (None: not read).
    order_document_types: frozenset[str] = frozenset()
    trip_ids: tuple[uuid.UUID, ...] | None = None


@dataclass(frozen=True)
class Owner:
    """The one order an upload belongs to, its trip stop if named, and the trips carrying
    the order when they came with it (None: not read)."""

    order: Order
    trip_stop: TripStop | None = None
    trip_ids: tuple[uuid.UUID, ...] | None = None


def sniff_content_type(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the file's first bytes, or None when not PDF/image."""
    for signature, content_type, extension in _SIGNATURES:
        if data.startswith(signature):
            return content_type, extension
    return None


def check_size(size: int, *, filename: str, max_bytes: int) -> None:
    """Refuse an empty scan or one over the limit, saying what to do."""
    if size <= 0:
        raise InvalidDocumentError(f"{filename} is empty; upload the scanned document again")
    if size > max_bytes:
        raise InvalidDocumentError(
            f"{filename} is {size:,} bytes; the limit is {max_bytes:,} "
            "(HAULFLOW_MAX_DOCUMENT_BYTES): compress or split the scan"
        )


def check_upload(data: bytes, *, filename: str, max_bytes: int) -> tuple[str, str]:
    """The content type and extension of an acceptable upload; raise with what to do."""
    check_size(len(data), filename=filename, max_bytes=max_bytes)
    sniffed = sniff_content_type(data)
    if sniffed is None:
        raise InvalidDocumentError(
            f"{filename} is neither a PDF nor an image (JPEG, PNG, TIFF); "
            "export the document as PDF and upload that"
        )
    return sniffed


def resolve_owner(*, session: Session, ref: EntityRef, stop: int | None) -> Owner:
    """The one order (and trip stop) an upload belongs to; refuse anything ambiguous."""
    if ref.category is Category.ORDER:
        if stop is not None:
            raise InvalidDocumentError(
                f"--stop goes with a trip (trip:REFERENCE), not with order {ref.reference}"
            )
        # The order with the trips carrying it, in one query (the gate needs them next).
        rows = session.exec(
            select(Order, TripOrder.trip_id)
            .outerjoin(TripOrder, col(TripOrder.order_id) == Order.id)
            .where(Order.reference == ref.reference)
        ).all()
        if not rows:
            raise missing_entity(ref)
        trip_ids = tuple(trip_id for _, trip_id in rows if trip_id is not None)
        return Owner(rows[0][0], trip_ids=trip_ids)
    entity_id = find_entity_id(session=session, ref=ref)
    if ref.category is not Category.TRIP:
        raise InvalidDocumentError(
            f"documents belong to orders or trip stops, not to a {ref.category.value}; "
            "name the order (order:REFERENCE) or the trip and stop (trip:REFERENCE --stop N)"
        )
    if stop is not None:
        trip_stop = session.exec(
            select(TripStop).where(TripStop.trip_id == entity_id, TripStop.sequence == stop)
        ).first()
        if trip_stop is None or trip_stop.order_id is None:
            what = "has no stop" if trip_stop is None else "has no order on stop"
            raise InvalidDocumentError(f"trip {ref.reference} {what} {stop}")
        order = session.get(Order, trip_stop.order_id)
        assert order is not None  # foreign key
        return Owner(order, trip_stop)
    orders = session.exec(
        select(Order)
        .join(TripOrder, TripOrder.order_id == Order.id)  # type: ignore[arg-type]
        .where(TripOrder.trip_id == entity_id)
    ).all()
    if len(orders) != 1:
        listed = ", ".join(sorted(order.reference for order in orders)) or "none"
        raise InvalidDocumentError(
            f"trip {ref.reference} carries {len(orders)} orders ({listed}); a document belongs "
            "to one: name the order (order:REFERENCE) or the stop (--stop N)"
        )
    return Owner(orders[0])


def record_document(
    *,
    session: Session,
    store: DocumentStore,
    ref: EntityRef,
    doc_type: DocumentType,
    data: bytes,
    filename: str,
    source: str,
    max_bytes: int,
    now: datetime,
    stop: int | None = None,
) -> UploadResult:
    """Check, store and record one upload; the caller commits."""
    content_type, extension = check_upload(data, filename=filename, max_bytes=max_bytes)
    owner = resolve_owner(session=session, ref=ref, stop=stop)
    order, trip_stop = owner.order, owner.trip_stop
    digest = hashlib.sha256(data).hexdigest()
    # One query answers three: the same bytes already recorded, the earlier versions, and
    # the types the order has recorded (an order holds a handful of documents).
    recorded = session.exec(select(Document).where(Document.order_id == order.id)).all()
    same_type = [document for document in recorded if document.type == doc_type.value]
    existing = next((document for document in same_type if document.sha256 == digest), None)
    if existing is not None:
        return UploadResult(existing, created=False, order_reference=order.reference)
    stop_id = trip_stop.id if trip_stop else None
    earlier = frozenset(str(d.id) for d in same_type if d.trip_stop_id == stop_id)
    key = document_key(order.id, doc_type, digest, extension)
    store.put(key, data, content_type=content_type)
    document = insert_document_row(
        session=session,
        order_id=order.id,
        trip_stop_id=stop_id,
        doc_type=doc_type,
        storage_key=key,
        filename=filename,
        content_type=content_type,
        size=len(data),
        sha256=digest,
        source=source,
        now=now,
    )
    session.flush()
    return UploadResult(
        document,
        True,
        order.reference,
        earlier,
        order_document_types=frozenset({doc_type.value, *(d.type for d in recorded)}),
        trip_ids=owner.trip_ids,
    )


def document_key(order_id: uuid.UUID, doc_type: DocumentType, sha256: str, extension: str) -> str:
    """The store key of a document: `documents/{order id}/{type}-{sha256[:16]}{extension}`."""
    # Keys use ids, never references: a reference may hold characters a key must not.
    return f"documents/{order_id}/{doc_type.value}-{sha256[:16]}{extension}"


def find_same_documents(
    *, session: Session, identities: Collection[DocumentIdentity]
) -> dict[DocumentIdentity, Document]:
    """The recorded document of each identity (order id, type, sha256) that has one."""
    found: dict[DocumentIdentity, Document] = {}
    for chunk in in_chunks(sorted({sha256 for _, _, sha256 in identities})):
        rows = session.exec(select(Document).where(col(Document.sha256).in_(chunk)))
        for document in rows:
            identity = (document.order_id, document.type, document.sha256)
            if identity in identities:
                found.setdefault(identity, document)
    return found


def insert_document_row(
    *,
    session: Session,
    order_id: uuid.UUID,
    trip_stop_id: uuid.UUID | None,
    doc_type: DocumentType,
    storage_key: str,
    filename: str,
    content_type: str,
    size: int,
    sha256: str,
    source: str,
    now: datetime,
) -> Document:
    """Add the row of an object already in the store; the caller flushes and commits."""
    document = Document(
        id=uuid.uuid4(),
        order_id=order_id,
        trip_stop_id=trip_stop_id,
        type=doc_type.value,
        storage_key=storage_key,
        filename=filename[:255],
        content_type=content_type,
        size=size,
        sha256=sha256,
        source=source,
        uploaded_at=now,
    )
    session.add(document)
    return document
