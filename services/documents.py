"""Upload one document for an order or a trip stop, as `documents upload` and the API do."""

from __future__ import annotations

from core.database import session_scope
from core.settings import get_settings
from delivery.dispatching import live_dispatchers
from ingestion.documents import InvalidDocumentError as InvalidDocumentError
from ingestion.intake import Intake, record_and_open_gates
from lifecycle.entities import EntityRef
from models import DocumentType, utcnow
from storage.factory import open_document_store


def upload_document(
    *,
    ref: EntityRef,
    doc_type: DocumentType,
    data: bytes,
    filename: str,
    source: str,
    stop: int | None = None,
) -> tuple[Intake, str]:
    """Store the bytes, record them against exactly one order and open its gates, in one
    transaction whose commit wakes the dispatcher. Returns the intake and the store's
    location. The same bytes twice are recorded once."""
    settings = get_settings()
    store = open_document_store(settings)
    with session_scope() as session:
        intake = record_and_open_gates(
            session=session,
            store=store,
            ref=ref,
            doc_type=doc_type,
            data=data,
            filename=filename,
            source=source,
            max_bytes=settings.max_document_bytes,
            now=utcnow(),
            stop=stop,
        )
    return intake, store.location


def dispatcher_running() -> bool:
    """Whether a dispatcher ran within the last minute (a ready e-mail then goes out at once)."""
    with session_scope() as session:
        return bool(live_dispatchers(session=session, now=utcnow()))
