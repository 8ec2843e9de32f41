"""Take in one document as every entry point does: record it, apply the corrected-document
policy of tasks already sent, open gates.

`haulflow documents upload` and `haulflow listen` share this sequence: the document and the
tasks it readies land in one transaction (the caller commits), and that commit is the
wake-up of the dispatcher (`core.wakeups`): nothing is announced after it, so nothing can
be lost between the two.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from ingestion.documents import UploadResult, record_document
from lifecycle.corrections import Correction, handle_corrected_document
from lifecycle.document_gate import open_document_gates
from lifecycle.entities import EntityRef
from models import DocumentType
from storage.base import DocumentStore

# `documents.source` and the task history's `by` hold at most 100 characters.
_RECORDED_LENGTH = 100


@dataclass(frozen=True)
class Intake:
    """The recorded document, the tasks that now have every required document, and the done
    tasks whose e-mail carried an earlier version of it (`lifecycle.corrections`)."""

    result: UploadResult
    opened: list[uuid.UUID]
    corrections: list[Correction] = field(default_factory=list)


def record_and_open_gates(
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
) -> Intake:
    """Record one document and, when it is new, re-plan its order's waiting tasks; no commit."""
    result = record_document(
        session=session,
        store=store,
        ref=ref,
        doc_type=doc_type,
        data=data,
        filename=filename,
        source=_fit(source),
        max_bytes=max_bytes,
        now=now,
        stop=stop,
    )
    if not result.created:
        return Intake(result, [])
    by = _fit(f"upload:{source}")
    corrections = handle_corrected_document(
        session=session,
        document=result.document,
        earlier_versions=result.earlier_versions,
        now=now,
        by=by,
    )
    order_id = result.document.order_id
    opened = open_document_gates(
        session=session,
        now=now,
        by=by,
        order_ids=[order_id],
        trip_ids=None if result.trip_ids is None else list(result.trip_ids),
        order_document_types={order_id: result.order_document_types},
    )
    return Intake(result, opened, corrections)


def _fit(text: str) -> str:
    """`text`, shortened with an ellipsis to what a recorded column holds."""
    if len(text) <= _RECORDED_LENGTH:
        return text
    return text[: _RECORDED_LENGTH - 1] + "…"
