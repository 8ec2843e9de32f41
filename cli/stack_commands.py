"""`haulflow up` and `haulflow status`: run the local stack, and say whether it is healthy."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from cli.output import console

_MARKS = {
    "ok": "[green]ok[/green]     ",
    "warning": "[yellow]warning[/yellow]",
    "problem": "[red]problem[/red]",
}


def up(
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Also load the example configuration, customers, orders, trips and sample "
            "POD/CMR scans (idempotent).",
        ),
    ] = False,
) -> None:
    """Run the Prefect server and UI, the deployments and a mail sink under ./var until Ctrl-C."""
    from stack.up import run_stack

    code = run_stack(demo=demo, console=console)
    if code:
        raise typer.Exit(code)


def status(
    stale_minutes: Annotated[
        int,
        typer.Option(min=1, help="Ready tasks unsent for longer than this are a problem."),
    ] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check the Prefect server, deployments, last sweep and tasks; exit 1 when unhealthy."""
    from stack.status import check_status

    report = check_status(stale_minutes=stale_minutes)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        for check in report.checks:
            console.print(f"{_MARKS[check.severity]}  {check.name}: {escape(check.summary)}")
            for detail in check.details:
                console.print(f"             {escape(detail)}")
            if check.advice and check.severity != "ok":
                console.print(f"             [bold]→[/bold] {escape(check.advice)}")
        verdict = "[green]healthy[/green]" if report.healthy else "[red]unhealthy[/red]"
        console.print(verdict)
    if not report.healthy:
        raise typer.Exit(1)
