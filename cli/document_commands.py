"""`haulflow documents ...`: upload a POD, CMR or other document for an order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from cli.output import console, one_line
from core.errors import NotFoundError
from core.moments import human_moment
from core.settings import get_settings
from models import DocumentType, DropStatus
from services.documents import InvalidDocumentError, dispatcher_running, upload_document
from services.entities import parse_entity_ref
from services.schema import require_current_schema

app = typer.Typer(help="Documents: POD, CMR and others.", no_args_is_help=True)


@app.command("upload")
def upload(
    entity: Annotated[
        str, typer.Argument(metavar="ENTITY", help="order:REFERENCE, or trip:REFERENCE.")
    ],
    doc_type: Annotated[DocumentType, typer.Argument(metavar="TYPE", help="pod, cmr or other.")],
    path: Annotated[Path, typer.Argument(metavar="PATH", help="The PDF or image file.")],
    stop: Annotated[
        int | None, typer.Option(help="Trip stop number, when a trip carries several orders.")
    ] = None,
    source: Annotated[
        str, typer.Option(help="Who or what uploads, recorded.", callback=one_line)
    ] = "cli",
) -> None:
    """Store the file, record it against exactly one order; the same bytes twice count once."""
    settings = get_settings()
    ref = parse_entity_ref(entity)
    data = read_upload(path, settings.max_document_bytes)
    require_current_schema()
    intake, location = upload_document(
        ref=ref, doc_type=doc_type, data=data, filename=path.name, source=source, stop=stop
    )
    result, document = intake.result, intake.result.document
    if not result.created:
        console.print(
            f"already recorded: {escape(path.name)} ({doc_type.value}) for order "
            f"{escape(result.order_reference)}, sha256 {document.sha256[:16]}…; nothing changed"
        )
        return
    console.print(
        f"recorded {doc_type.value} {escape(path.name)} for order "
        f"{escape(result.order_reference)}: {document.size:,} bytes, sha256 "
        f"{document.sha256[:16]}…, in {escape(location)}"
    )
    if intake.opened:
        console.print(f"{len(intake.opened)} task(s) now have every required document")
        if not dispatcher_running():
            console.print(
                "no dispatcher is running: their e-mails go out once `haulflow up` or "
                "`haulflow serve` runs (`haulflow explain KEY ENTITY` tells more)"
            )
    for correction in intake.corrections:
        console.print(f"an e-mail already went out: {escape(str(correction))}")


def read_upload(path: Path, limit: int) -> bytes:
    """The file's bytes; refused before reading past `limit` (a 5 GB file costs nothing)."""
    try:
        with path.open("rb") as file:
            data = file.read(limit + 1)
    except OSError as error:
        raise NotFoundError(f"cannot read {path}: {error.strerror or error}") from None
    if len(data) > limit:
        raise InvalidDocumentError(
            f"{path.name} is larger than the limit of {limit:,} bytes "
            "(HAULFLOW_MAX_DOCUMENT_BYTES): compress or split the scan"
        )
    return data


@app.command("drops")
def drops(
    status: Annotated[
        list[DropStatus] | None,
        typer.Option(help="Only these: pending, refused, recorded (repeat the option)."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Documents dropped in the bucket's inbox that were refused or wait for their entity."""
    # Imported here: the bucket's client errors cost `documents upload` its import time.
    from services.drops import inbox_drops

    wanted = status or [DropStatus.PENDING, DropStatus.REFUSED]
    require_current_schema()
    rows = inbox_drops(statuses=wanted, limit=limit)
    if as_json:
        fields = ("key", "status", "reason", "category", "reference", "document_type", "size")
        moments = ("first_seen_at", "updated_at", "expires_at")
        payload = [
            {name: getattr(row, name) for name in fields}
            | {
                name: (getattr(row, name).isoformat() if getattr(row, name) else None)
                for name in moments
            }
            for row in rows
        ]
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=True))
        return
    if not rows:
        console.print(f"no {' or '.join(wanted)} inbox drop")
        return
    for row in rows:
        until = f", waits until {human_moment(row.expires_at)}" if row.expires_at else ""
        console.print(
            f"{human_moment(row.updated_at)}  {row.status:<8}  {escape(row.key)}{until}\n"
            f"    {escape(row.reason)}"
        )
    console.print(f"{len(rows)} drop(s); times in {get_settings().timezone}")
