"""`haulflow documents ...`: upload a POD, CMR or other document for an order."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.output import console
from core.database import require_current_schema, session_scope
from core.errors import NotFoundError
from core.events import document_uploaded_payload, emit_document_uploaded
from core.settings import get_settings
from delivery.gate import open_document_gates
from ingestion.documents import record_document
from lifecycle.entities import parse_entity_ref
from models import DocumentType, utcnow
from storage.factory import open_document_store

app = typer.Typer(help="Documents: POD, CMR and others.", no_args_is_help=True)


@app.command("upload")
def upload(
    entity: Annotated[str, typer.Argument(help="order:REFERENCE, or trip:REFERENCE.")],
    doc_type: Annotated[DocumentType, typer.Argument(metavar="TYPE", help="pod, cmr or other.")],
    path: Annotated[Path, typer.Argument(help="The PDF or image file.")],
    stop: Annotated[
        int | None, typer.Option(help="Trip stop number, when a trip carries several orders.")
    ] = None,
    source: Annotated[str, typer.Option(help="Who or what uploads, recorded.")] = "cli",
) -> None:
    """Store the file, record it against exactly one order; the same bytes twice count once."""
    settings = get_settings()
    ref = parse_entity_ref(entity)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise NotFoundError(f"cannot read {path}: {error.strerror or error}") from None
    require_current_schema()
    store = open_document_store(settings)
    with session_scope() as session:
        result = record_document(
            session=session,
            store=store,
            ref=ref,
            doc_type=doc_type,
            data=data,
            filename=path.name,
            source=source,
            max_bytes=settings.max_document_bytes,
            now=utcnow(),
            stop=stop,
        )
        if result.created:
            # In the same transaction: the document and the tasks it completes land together.
            opened = open_document_gates(
                session=session,
                now=utcnow(),
                by=f"upload:{source}",
                order_ids=[result.document.order_id],
            )
    document = result.document
    if result.created:
        # After the commit: the gate reads the database, the event only wakes it sooner.
        emit_document_uploaded(
            document_uploaded_payload(
                order_reference=result.order_reference,
                document_type=doc_type.value,
                document_id=document.id,
                source=source,
            )
        )
    if not result.created:
        console.print(
            f"already recorded: {path.name} ({doc_type.value}) for order "
            f"{result.order_reference}, sha256 {document.sha256[:16]}…; nothing changed"
        )
        return
    console.print(
        f"recorded {doc_type.value} {path.name} for order {result.order_reference}: "
        f"{document.size:,} bytes, sha256 {document.sha256[:16]}…, in {store.location}"
    )
    if opened:
        console.print(f"{len(opened)} task(s) now have every required document")
