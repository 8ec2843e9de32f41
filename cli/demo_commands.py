"""`haulflow demo`: start a throw-away stack and tell the POD/CMR story, checking each step."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.markup import escape

from cli.output import console
from core.errors import HaulflowError
from core.settings import get_settings


def demo(
    json_output: Annotated[bool, typer.Option("--json", help="Print the steps as JSON.")] = False,
) -> None:
    """Run the scripted POD/CMR scenario end to end; exit 0 only if every step checked out.

    Works under var/demo-run/ (emptied first) on free ports: a running `haulflow up` and your
    data are left alone.
    """
    from stack.demo import DemoRun, Step, tell_story
    from stack.demo_stack import isolate, running_demo_stack

    def show(step: Step) -> None:
        if not json_output:
            mark = "[green]✓[/green]" if step.ok else "[red]✗[/red]"
            console.print(f"{mark} {escape(step.name)} [dim]({step.seconds:.1f} s)[/dim]")
            console.print(f"    {escape(step.detail)}")

    run = DemoRun(report=show)
    var_dir = isolate(get_settings())
    if not json_output:
        console.print(f"haulflow demo in {var_dir} (starting a Prefect server, serve, a mail sink)")
    started = time.monotonic()
    try:
        with running_demo_stack() as stack:
            tell_story(run, time.monotonic() - started, stack.sink.directory)
    except HaulflowError as error:
        reason = str(error)
        run.check("stack started", lambda: (False, reason), took=time.monotonic() - started)
    if json_output:
        typer.echo(json.dumps(run.to_json(), indent=2, ensure_ascii=False))
    elif run.ok:
        console.print(
            f"[bold green]every step checked out[/bold green]; e-mails in "
            f"{get_settings().resolved_mailsink_dir}"
        )
    else:
        console.print("[bold red]the demo failed[/bold red]: see the step marked ✗ above")
    if not run.ok:
        raise typer.Exit(1)
