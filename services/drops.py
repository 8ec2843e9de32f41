"""Uploads that go straight to the bucket: a signed URL for a driver app, and the bucket's
notification pushed over HTTP (MinIO's webhook), taken in as `haulflow listen` does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.database import session_scope
from core.errors import ConflictError, HaulflowError
from core.settings import get_settings
from ingestion.documents import check_size
from ingestion.drops import list_drops
from ingestion.inbox import RefusedDropError as RefusedDropError
from ingestion.inbox import inbox_key
from ingestion.inbox import inbox_location as inbox_location
from ingestion.listener import ListenReport, handle_notifications
from ingestion.notifications import Received, parse_s3_event
from lifecycle.entities import EntityRef, find_entity_id
from models import DocumentType, DropStatus, InboxDrop, utcnow
from storage.factory import open_document_store
from storage.s3 import S3Store

# How long a signed upload URL stays valid: a driver uploads from a truck's cab, on a slow
# mobile connection, but the URL should not outlive the delivery.
UPLOAD_URL_SECONDS = 900


class NotAnS3EventError(HaulflowError):
    """A pushed notification that is not an S3 event."""


@dataclass(frozen=True)
class UploadUrl:
    """Where to PUT one file, until when, and the inbox key it lands under."""

    url: str
    key: str
    expires_at: datetime


def upload_url(
    *, ref: EntityRef, doc_type: DocumentType, filename: str, size: int, stop: int | None
) -> UploadUrl:
    """A signed URL to PUT one scan of `ref`, of exactly `size` bytes, into the bucket's
    inbox; the bucket's notification then records it like any inbox drop. The entity must
    exist now, and `size` be within the document limit."""
    settings = get_settings()
    check_size(size, filename=filename, max_bytes=settings.max_document_bytes)
    store = open_document_store(settings)
    if not isinstance(store, S3Store):
        # 409: the request is sound, the server's configuration cannot serve it.
        raise ConflictError(
            "signed upload URLs need the S3 store (HAULFLOW_DOCUMENT_STORE=s3 with a bucket "
            "notifying haulflow); with the folder store, upload the file to haulflow itself"
        )
    with session_scope() as session:
        find_entity_id(session=session, ref=ref)
    key = inbox_key(ref=ref, doc_type=doc_type, filename=filename, stop=stop, settings=settings)
    url = store.presigned_put(key, size=size, expires_seconds=UPLOAD_URL_SECONDS)
    return UploadUrl(url, store.prefix + key, utcnow() + timedelta(seconds=UPLOAD_URL_SECONDS))


def inbox_drops(*, statuses: list[DropStatus], limit: int) -> list[InboxDrop]:
    """Inbox drops in these statuses, newest first."""
    with session_scope() as session:
        return list_drops(session=session, statuses=statuses, limit=limit)


def take_in_notification(body: str) -> ListenReport:
    """Record every inbox drop one pushed S3 event announces, as `listen` does for a queued
    message. `report.retried` names the drops that failed for now: the sender must push the
    event again (MinIO does, from its queue directory)."""
    events, problem = parse_s3_event(body)
    if problem is not None:
        raise NotAnS3EventError(problem)
    settings = get_settings()
    return handle_notifications(
        received=[Received("webhook", events)],
        store=open_document_store(settings),
        settings=settings,
        now=utcnow(),
    )
