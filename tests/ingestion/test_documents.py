"""Uploads are checked, stored byte for byte and recorded against exactly one order."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from core.errors import NotFoundError
from ingestion.documents import InvalidDocumentError, UploadResult, record_document
from lifecycle.entities import EntityRef
from models import Booking, Category, Document, DocumentType
from storage.folder import FolderStore
from tests.factories import make_booking, make_order, make_party, make_trip

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
PDF = b"%PDF-1.7\n% signed POD\n" + b"\x00\x01" * 500


def upload(
    session: Session,
    store: FolderStore,
    ref: EntityRef,
    data: bytes = PDF,
    doc_type: DocumentType = DocumentType.POD,
    stop: int | None = None,
) -> UploadResult:
    return record_document(
        session=session,
        store=store,
        ref=ref,
        doc_type=doc_type,
        data=data,
        filename="pod.pdf",
        source="cli",
        max_bytes=10_000,
        now=NOW,
        stop=stop,
    )


def documents(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Document)).one()


@pytest.fixture
def store(tmp_path: Path) -> FolderStore:
    return FolderStore(tmp_path / "documents")


def test_upload_is_stored_and_recorded(session: Session, store: FolderStore) -> None:
    order = make_order(session)
    result = record_document(
        session=session, store=store, ref=EntityRef(Category.ORDER, order.reference),
        doc_type=DocumentType.CMR, data=PDF, filename="cmr.pdf", source="driver-app",
        max_bytes=10_000, now=NOW,
    )  # fmt: skip
    session.commit()
    document = session.exec(select(Document)).one()
    assert result.created and document.order_id == order.id and document.type == "cmr"
    assert document.sha256 == hashlib.sha256(PDF).hexdigest() and document.size == len(PDF)
    assert document.content_type == "application/pdf" and document.uploaded_at == NOW
    assert store.get(document.storage_key) == PDF


def test_same_upload_twice_is_recorded_once(session: Session, store: FolderStore) -> None:
    ref = EntityRef(Category.ORDER, make_order(session).reference)
    first = upload(session, store, ref)
    second = upload(session, store, ref)
    assert first.created and not second.created
    assert documents(session) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b"PK\x03\x04 a zip file", "neither a PDF nor an image"),
        (b"%PDF-" + b"x" * 20_000, "the limit is 10,000"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_written(
    session: Session, store: FolderStore, data: bytes, message: str
) -> None:
    ref = EntityRef(Category.ORDER, make_order(session).reference)
    with pytest.raises(InvalidDocumentError, match=message):
        upload(session, store, ref, data)
    assert documents(session) == 0 and list(store.list()) == []


def test_images_are_accepted(session: Session, store: FolderStore) -> None:
    ref = EntityRef(Category.ORDER, make_order(session).reference)
    upload(session, store, ref, b"\xff\xd8\xff\xe0 jpeg bytes")
    assert session.exec(select(Document.content_type)).one() == "image/jpeg"


def test_groupage_trip_needs_a_stop(session: Session, store: FolderStore) -> None:
    first = make_order(session, make_party(session))
    second = make_order(session, make_party(session))
    trip = make_trip(session, [first, second])
    ref = EntityRef(Category.TRIP, trip.reference)
    with pytest.raises(InvalidDocumentError, match="carries 2 orders"):
        upload(session, store, ref)
    assert documents(session) == 0
    upload(session, store, ref, stop=2)
    document = session.exec(select(Document)).one()
    assert document.order_id == second.id and document.trip_stop_id is not None
    with pytest.raises(InvalidDocumentError, match="has no stop 7"):
        upload(session, store, ref, stop=7)


def test_single_order_trip_resolves_its_order(session: Session, store: FolderStore) -> None:
    order = make_order(session)
    trip = make_trip(session, [order])
    upload(session, store, EntityRef(Category.TRIP, trip.reference))
    assert session.exec(select(Document.order_id)).one() == order.id


def test_wrong_or_unknown_entities_are_refused(session: Session, store: FolderStore) -> None:
    booking: Booking = make_booking(session)
    with pytest.raises(InvalidDocumentError, match="not to a booking"):
        upload(session, store, EntityRef(Category.BOOKING, booking.reference))
    with pytest.raises(NotFoundError, match="order ORD-NOPE does not exist"):
        upload(session, store, EntityRef(Category.ORDER, "ORD-NOPE"))
    order = make_order(session)
    with pytest.raises(InvalidDocumentError, match="--stop goes with a trip"):
        upload(session, store, EntityRef(Category.ORDER, order.reference), stop=1)
    assert documents(session) == 0
