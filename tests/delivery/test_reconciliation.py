"""Objects in the store without a row are recorded once, checked, at one LIST per 1,000 keys."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from delivery.reconciliation import ReconciliationReport, reconcile_documents
from ingestion.documents import (
    UploadResult,
    document_key,
    insert_document_row,
    record_document,
)
from lifecycle.entities import EntityRef
from models import Category, Document, DocumentType
from storage.base import DocumentStore
from storage.folder import FolderStore
from storage.s3 import S3Store
from tests.factories import make_order
from tests.statements import counted_statements

# Reconciliation leaves objects younger than two minutes alone; these tests write them now
# and reconcile as if ten minutes later, from each test's own start (`_ten_minutes_on`).
NOW = datetime.now(UTC) + timedelta(minutes=10)
MAX_BYTES = 10_000
PDF = b"%PDF-1.7\n% POD signed at delivery\n"
PNG = b"\x89PNG\r\n\x1a\n scanned CMR"


def s3_client(endpoint: str) -> Any:
    # Credentials spelled out: the module-wide bucket is made before `s3_env` sets them.
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(params=["folder", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path, s3_endpoint: str) -> DocumentStore:
    """Each test runs on the folder store and on S3 over HTTP, under a prefix."""
    if request.param == "folder":
        return FolderStore(tmp_path / "documents")
    bucket = request.getfixturevalue("s3_env")
    return S3Store(s3_client(s3_endpoint), bucket, prefix="carrier-a")


@pytest.fixture(autouse=True)
def _ten_minutes_on() -> None:
    """`NOW` from this test's start: taken once when pytest collected the module, it was
    already past by the time a slow suite reached these tests, and every object written
    then looked too young to record."""
    global NOW
    NOW = datetime.now(UTC) + timedelta(minutes=10)


def key_for(order_id: uuid.UUID, data: bytes, doc_type: DocumentType = DocumentType.POD) -> str:
    return document_key(order_id, doc_type, hashlib.sha256(data).hexdigest(), ".pdf")


def put(store: DocumentStore, key: str, data: bytes) -> None:
    store.put(key, data, content_type="application/octet-stream")
    if isinstance(store, FolderStore):
        # A file's modification time is the kernel's clock, which the moved-clock passes of
        # `./dev test` do not move: stamp it with Python's, as the other clocks of the test.
        moment = time.time()
        os.utime(store.root / key, (moment, moment))


def reconcile(
    session: Session, store: DocumentStore, limit: int | None = None
) -> ReconciliationReport:
    return reconcile_documents(
        session=session, store=store, now=NOW, max_bytes=MAX_BYTES, limit=limit
    )


def upload(session: Session, store: DocumentStore, order_reference: str) -> UploadResult:
    return record_document(
        session=session, store=store, ref=EntityRef(Category.ORDER, order_reference),
        doc_type=DocumentType.POD, data=PDF, filename="pod.pdf", source="cli",
        max_bytes=MAX_BYTES, now=NOW,
    )  # fmt: skip


def documents(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Document)).one()


def test_object_put_directly_is_recorded_once(session: Session, store: DocumentStore) -> None:
    order = make_order(session)
    key = key_for(order.id, PDF, DocumentType.CMR)
    put(store, key, PDF)
    put(store, "elsewhere/not-a-document.pdf", PDF)
    report = reconcile(session, store)
    session.commit()
    document = session.exec(select(Document)).one()
    assert report == ReconciliationReport(
        listed=1,
        recorded=1,
        recorded_document_ids=[document.id],
        recorded_order_ids=[order.id],
    )
    assert (document.order_id, document.type, document.storage_key) == (order.id, "cmr", key)
    assert document.filename == key.rsplit("/", 1)[-1] and document.trip_stop_id is None
    assert document.source == "reconciliation" and document.uploaded_at == NOW
    assert document.content_type == "application/pdf" and document.size == len(PDF)
    assert document.sha256 == hashlib.sha256(PDF).hexdigest()
    again = reconcile(session, store)
    assert (again.listed, again.recorded, again.already_recorded) == (1, 0, 1)
    assert documents(session) == 1


def test_crash_between_put_and_commit_is_repaired(session: Session, store: DocumentStore) -> None:
    order = make_order(session)
    session.commit()
    lost = upload(session, store, order.reference).document.storage_key
    session.rollback()  # the crash: the object is stored, its row never committed
    assert documents(session) == 0 and store.exists(lost)
    report = reconcile(session, store)
    session.commit()
    assert report.recorded == 1 and session.exec(select(Document.storage_key)).one() == lost
    assert not upload(session, store, order.reference).created  # the upload's rule sees it


def test_recorded_upload_is_not_recorded_again(session: Session, store: DocumentStore) -> None:
    upload(session, store, make_order(session).reference)
    session.commit()
    report = reconcile(session, store)
    assert (report.listed, report.recorded, report.already_recorded) == (1, 0, 1)
    assert documents(session) == 1


def test_same_bytes_recorded_under_another_key_are_not_recorded_twice(
    session: Session, store: DocumentStore
) -> None:
    order = make_order(session)
    insert_document_row(
        session=session, order_id=order.id, trip_stop_id=None, doc_type=DocumentType.POD,
        storage_key="legacy/pod.pdf", filename="pod.pdf", content_type="application/pdf",
        size=len(PDF), sha256=hashlib.sha256(PDF).hexdigest(), source="legacy", now=NOW,
    )  # fmt: skip
    put(store, key_for(order.id, PDF), PDF)
    report = reconcile(session, store)
    assert (report.recorded, report.already_recorded, report.unrecognized_count) == (0, 1, 0)
    assert documents(session) == 1


def _sha16(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


# Each case: (order id of an existing order → key and bytes, the reason's gist).
BAD_OBJECTS: dict[str, tuple[Callable[[uuid.UUID], tuple[str, bytes]], str]] = {
    "no type": (lambda order: (f"documents/{order}/{_sha16(PDF)}.pdf", PDF), "not documents/"),
    "unknown type": (
        lambda order: (f"documents/{order}/invoice-{_sha16(PDF)}.pdf", PDF),
        "not documents/",
    ),
    "reference, not id": (lambda _: (f"documents/ORD-1/pod-{_sha16(PDF)}.pdf", PDF), "not"),
    "nested": (lambda order: (f"documents/{order}/x/pod-{_sha16(PDF)}.pdf", PDF), "not"),
    "unknown order": (lambda _: (key_for(uuid.uuid4(), PDF), PDF), "no order has id"),
    "not a PDF or image": (
        lambda order: (key_for(order, b"PK\x03\x04 zip"), b"PK\x03\x04 zip"),
        "neither a PDF nor an image",
    ),
    "empty": (lambda order: (key_for(order, b""), b""), "is empty"),
    "too large": (
        lambda order: (key_for(order, PDF + b"x" * MAX_BYTES), PDF + b"x" * MAX_BYTES),
        "the limit is 10,000",
    ),
    "sha256 mismatch": (lambda order: (key_for(order, PDF), PDF + b"edited"), "sha256 starts"),
    "extension mismatch": (lambda order: (key_for(order, PNG), PNG), "image/png, the key says"),
}


@pytest.mark.parametrize("case", BAD_OBJECTS)
def test_unrecognized_objects_are_reported_and_nothing_is_written(
    session: Session, store: DocumentStore, case: str
) -> None:
    build, reason = BAD_OBJECTS[case]
    key, data = build(make_order(session).id)
    put(store, key, data)
    report = reconcile(session, store)
    assert (report.listed, report.recorded, report.unrecognized_count) == (1, 0, 1)
    assert report.unrecognized == [key] and reason in report.reasons[key]
    assert documents(session) == 0


def test_unrecognized_keys_are_capped_and_limit_caps_recording(
    session: Session, store: DocumentStore
) -> None:
    order = make_order(session)
    for index in range(60):
        put(store, f"documents/stray-{index:02d}.pdf", PDF)
    for index in range(3):
        data = PDF + bytes([index])
        put(store, key_for(order.id, data), data)
    first = reconcile(session, store, limit=2)
    session.commit()
    assert first.recorded == 2 and first.recorded_order_ids == [order.id]
    second = reconcile(session, store, limit=2)
    assert (second.recorded, second.already_recorded) == (1, 2)
    assert second.unrecognized_count == 60 and len(second.unrecognized) == 50
    assert second.unrecognized == [f"documents/stray-{index:02d}.pdf" for index in range(50)]
    assert documents(session) == 3


@dataclass(frozen=True)
class LargeBucket:
    """A bucket holding 2,500 document objects of 5 orders, 10 of them meant unrecorded."""

    name: str
    order_ids: list[uuid.UUID]
    objects: list[tuple[str, bytes]]
    unrecorded: set[str]


@pytest.fixture(scope="module")
def large_bucket(s3_endpoint: str) -> LargeBucket:
    """Put once for both database halves: each PUT to moto costs a few milliseconds."""
    order_ids = [uuid.uuid4() for _ in range(5)]
    objects = []
    for index in range(2500):
        data = PDF + index.to_bytes(2, "big")
        objects.append((key_for(order_ids[index % 5], data, DocumentType.CMR), data))
    objects.sort()
    name = f"haulflow-large-{uuid.uuid4().hex[:8]}"
    client = s3_client(s3_endpoint)
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for key, data in objects:
        client.put_object(Bucket=name, Key=key, Body=data)
    # Spread over the listing, so every chunk of 500 keys holds unrecorded ones.
    return LargeBucket(name, order_ids, objects, {key for key, _ in objects[::250]})


def test_requests_grow_with_the_bucket_not_the_documents(
    session: Session, engine: Engine, s3_endpoint: str, large_bucket: LargeBucket
) -> None:
    for order_id in large_bucket.order_ids:
        make_order(session, id=order_id)
    session.add_all(
        Document(
            order_id=uuid.UUID(key.split("/")[1]),
            type="cmr",
            storage_key=key,
            filename="cmr.pdf",
            content_type="application/pdf",
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            source="test",
            uploaded_at=NOW,
        )
        for key, data in large_bucket.objects
        if key not in large_bucket.unrecorded
    )
    session.commit()
    client = s3_client(s3_endpoint)
    calls: Counter[str] = Counter()
    client.meta.events.register("before-call.s3", lambda model, **_: calls.update([model.name]))
    with counted_statements(engine) as statements:
        report = reconcile(session, S3Store(client, large_bucket.name))
    session.commit()
    assert (report.listed, report.recorded, report.already_recorded) == (2500, 10, 2490)
    assert calls == Counter({"ListObjectsV2": 3, "GetObject": 10})
    # Per chunk of 500 listed keys: recorded keys, known orders, same content, one INSERT.
    assert len(statements) <= 4 * 5, statements
    assert documents(session) == 2500


def test_an_object_written_moments_ago_waits_for_the_next_sweep(
    session: Session, store: DocumentStore
) -> None:
    # An upload between its put and its commit must not race reconciliation for the key.
    order = make_order(session)
    put(store, key_for(order.id, PDF), PDF)

    just_now = reconcile_documents(
        session=session, store=store, now=datetime.now(UTC), max_bytes=MAX_BYTES
    )
    later = reconcile_documents(
        session=session,
        store=store,
        now=datetime.now(UTC) + timedelta(minutes=3),
        max_bytes=MAX_BYTES,
    )

    assert (just_now.listed, just_now.too_recent, just_now.recorded) == (1, 1, 0)
    assert (later.too_recent, later.recorded) == (0, 1)
