"""The `haulflow` console script: one typer app, user mistakes printed without tracebacks."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape
from sqlalchemy.exc import InterfaceError, OperationalError

from cli import (
    communication_commands,
    config_commands,
    db_commands,
    demo_commands,
    document_commands,
    explain_commands,
    import_commands,
    listen_commands,
    send_commands,
    serve_commands,
    stack_commands,
    task_commands,
)
from cli.output import stderr
from core.errors import HaulflowError, InvalidFileError
from core.prefect_runtime import forbid_ephemeral_server

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
app.add_typer(task_commands.app, name="tasks")
send_commands.register(task_commands.app)
app.add_typer(document_commands.app, name="documents")
app.add_typer(communication_commands.app, name="communications")
app.command("serve")(serve_commands.serve)
app.command("explain")(explain_commands.explain)
app.command("up")(stack_commands.up)
app.command("status")(stack_commands.status)
app.command("demo")(demo_commands.demo)
app.command("listen")(listen_commands.listen)


def main() -> None:
    """Run the CLI; a `HaulflowError` becomes a message and an exit code, not a traceback.

    Usage errors (unknown option, bad value) are printed by typer itself in standalone mode.
    """
    # No haulflow command may start a temporary Prefect server by accident (DESIGN).
    forbid_ephemeral_server()
    try:
        app()
    except InvalidFileError as error:
        for problem in error.problems:
            stderr.print(escape(str(problem)))
        stderr.print(f"[red]{len(error.problems)} problem(s); nothing was written[/red]")
        sys.exit(error.exit_code)
    except HaulflowError as error:
        stderr.print(f"[red]error:[/red] {escape(str(error))}")
        sys.exit(error.exit_code)
    except (OperationalError, InterfaceError) as error:
        # The database server is down or refuses us: say which database, not a traceback.
        reason = str(error.orig if error.orig is not None else error).strip().splitlines()[0]
        stderr.print(
            f"[red]error:[/red] cannot use the database {escape(_database())}: "
            f"{escape(reason)}; check HAULFLOW_DATABASE_URL and that the server runs"
        )
        sys.exit(1)


def _database() -> str:
    from core.database import get_engine

    return get_engine().url.render_as_string(hide_password=True)
