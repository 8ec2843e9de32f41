"""`haulflow communications ...`: the durable log of every e-mail sent, and its archive."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cli.output import console
from core.errors import HaulflowError
from core.moments import human_moment
from core.settings import get_settings
from services.entities import communications, parse_entity_ref
from services.schema import require_current_schema
from services.tasks import archived_email

app = typer.Typer(help="The communication log: every e-mail sent.", no_args_is_help=True)


@app.command("list")
def list_communications(
    entity: Annotated[str, typer.Argument(metavar="ENTITY", help="order:REF, trip:REF, ...")],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every e-mail sent about an entity (for an order, also the trip e-mails that carried its
    documents): when, to whom, what, and its archive."""
    ref = parse_entity_ref(entity)
    require_current_schema()
    rows = communications(ref)
    if json_output:
        payload = [row.communication.model_dump(mode="json") | {"about": row.about} for row in rows]
        typer.echo(json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False))
        return
    if not rows:
        console.print(f"no e-mail was sent about {escape(str(ref))}")
        return
    zone = get_settings().timezone
    table = Table("id", f"sent ({zone})", "about", "to", "subject", "attachments", "by")
    for row in rows:
        email = row.communication
        table.add_row(
            str(email.id)[:8],
            human_moment(email.sent_at, zone),
            escape(row.about),
            escape(", ".join(email.recipients)),
            escape(email.subject),
            escape(", ".join(str(a["filename"]) for a in email.attachments)),
            escape(email.requested_by + (f" ({email.cause})" if email.cause else "")),
        )
    console.print(table)


@app.command("download")
def download(
    communication_id: Annotated[
        str, typer.Argument(metavar="ID", help="The communication id or its first 8 characters.")
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Where to write the .eml file: a file, a folder, or - for standard output.",
        ),
    ] = None,
) -> None:
    """Write the archived e-mail, exactly as sent, after checking its sha256."""
    require_current_schema()
    row, data = archived_email(communication_id)
    if output == Path("-"):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    target = output or Path(f"{row.id}.eml")
    if target.is_dir():
        target = target / f"{row.id}.eml"
    if target.exists() and target.read_bytes() != data:
        raise HaulflowError(f"{target} exists and holds something else: choose another path")
    try:
        target.write_bytes(data)
    except OSError as error:
        raise HaulflowError(
            f"cannot write {target}: {error.strerror or error}; choose another path (-o)"
        ) from None
    console.print(f"wrote {escape(str(target))} ({len(data):,} bytes, sha256 verified)")
