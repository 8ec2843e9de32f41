"""The `haulflow` console script: one typer app, user mistakes printed without tracebacks."""

from __future__ import annotations

import sys

import click
import typer
from rich.console import Console
from rich.markup import escape

from cli import config_commands, db_commands, import_commands
from core.errors import HaulflowError, InvalidFileError

app = typer.Typer(
    name="haulflow",
    help="Task automation for road-freight carriers: configuration, import, tasks and emails.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db_commands.app, name="db")
app.add_typer(config_commands.app, name="config")
app.command("import")(import_commands.import_entities)

stderr = Console(stderr=True, soft_wrap=True, highlight=False)


def main() -> None:
    """Run the CLI; a `HaulflowError` becomes a message and an exit code, not a traceback."""
    try:
        result = app(standalone_mode=False)
    except InvalidFileError as error:
        for problem in error.problems:
            stderr.print(escape(str(problem)))
        stderr.print(f"[red]{len(error.problems)} problem(s); nothing was written[/red]")
        sys.exit(error.exit_code)
    except HaulflowError as error:
        stderr.print(f"[red]error:[/red] {escape(str(error))}")
        sys.exit(error.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        stderr.print("aborted")
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)
