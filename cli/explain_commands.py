"""`haulflow explain TASK_KEY ENTITY`: why a task's e-mail went out or did not."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Column, Table

from cli.output import console
from services.entities import parse_entity_ref
from services.schema import require_current_schema
from services.tasks import Explanation
from services.tasks import explain as explain_use_case

_STYLES = {
    "ok": "green",
    "problem": "red",
    "waiting": "yellow",
    "info": "cyan",
    "skipped": "dim",
}


def explain(
    task_key: Annotated[
        str, typer.Argument(metavar="TASK_KEY", help="A task definition's key, e.g. send-pod.")
    ],
    entity: Annotated[
        str,
        typer.Argument(metavar="ENTITY", help="order:REF, booking:REF, trip:REF or invoice:REF."),
    ],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    connect: Annotated[
        bool,
        typer.Option(
            "--connect/--no-connect",
            help="Try the mailbox's SMTP relay (connect, EHLO, login, QUIT; 5 s at most).",
        ),
    ] = True,
) -> None:
    """Why TASK_KEY on ENTITY sent its e-mail or did not: each check, and what to do.

    A diagnosis: it exits 0 whatever it finds, and changes nothing.
    """
    ref = parse_entity_ref(entity)
    require_current_schema()
    explanation = explain_use_case(key=task_key, ref=ref, probe_smtp=connect)
    if json_output:
        typer.echo(json.dumps(explanation.to_json(), indent=2, ensure_ascii=False))
        return
    _print(explanation)


def _print(explanation: Explanation) -> None:
    heading = f"[bold]{escape(explanation.task_key)}[/bold] on {escape(explanation.entity)}"
    if explanation.task_id is not None:
        heading += f": task {explanation.task_id.hex[:8]}, status {explanation.status}"
    else:
        heading += ": no task"
    console.print(heading)
    table = Table(
        Column("check", overflow="fold"),
        Column("verdict"),
        Column("detail", overflow="fold"),
        Column("what to do", overflow="fold"),
    )
    for check in explanation.checks:
        style = _STYLES[check.verdict]
        table.add_row(
            check.name,
            f"[{style}]{check.verdict}[/{style}]",
            escape(check.detail),
            escape(check.action or ""),
        )
    console.print(table)
    console.print(f"[bold]conclusion:[/bold] {escape(explanation.conclusion)}")
