"""`haulflow documents ...`: upload a POD, CMR or other document for an order."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.output import console
from core.database import require_current_schema, session_scope
from core.errors import NotFoundError
from core.settings import get_settings
from ingestion.intake import announce_document, record_and_open_gates
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
        intake = record_and_open_gates(
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
    announce_document(intake, source=source)
    result, document = intake.result, intake.result.document
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
    if intake.opened:
        console.print(f"{len(intake.opened)} task(s) now have every required document")
