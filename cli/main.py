"""The `haulflow` console script: one typer app, user mistakes printed without tracebacks."""

from __future__ import annotations

import importlib
import sys

import typer
from rich.markup import escape
from sqlalchemy.exc import InterfaceError, OperationalError

from cli.output import stderr
from core.errors import HaulflowError, InvalidFileError
from core.prefect_runtime import forbid_ephemeral_server

# Each command's module, imported only when that command runs (or for the whole help):
# `haulflow documents upload` then pays for what an upload needs, not for every command.
# name: (module, attribute, a group of subcommands or one command)
COMMANDS: dict[str, tuple[str, str, bool]] = {
    "db": ("cli.db_commands", "app", True),
    "config": ("cli.config_commands", "app", True),
    "import": ("cli.import_commands", "import_entities", False),
    "tasks": ("cli.task_commands", "app", True),
    "documents": ("cli.document_commands", "app", True),
    "communications": ("cli.communication_commands", "app", True),
    "serve": ("cli.serve_commands", "serve", False),
    "explain": ("cli.explain_commands", "explain", False),
    "up": ("cli.stack_commands", "up", False),
    "status": ("cli.stack_commands", "status", False),
    "demo": ("cli.demo_commands", "demo", False),
    "listen": ("cli.listen_commands", "listen", False),
    "api": ("cli.api_commands", "api", False),
    "tokens": ("cli.api_commands", "tokens", True),
}


def build_app(argv: list[str]) -> typer.Typer:
    """The typer app with the command `argv` names, or every command (help, a typo)."""
    app = typer.Typer(
        name="haulflow",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    # A callback keeps the app a group even with one command registered: typer would
    # otherwise run that command without its name.
    app.callback()(_haulflow)
    wanted = [argv[0]] if argv and argv[0] in COMMANDS else list(COMMANDS)
    for name in wanted:
        module_name, attribute, group = COMMANDS[name]
        module = importlib.import_module(module_name)
        if group:
            app.add_typer(getattr(module, attribute), name=name)
        else:
            app.command(name)(getattr(module, attribute))
        if name == "tasks":
            from cli import send_commands

            send_commands.register(module.app)
    return app


def _haulflow() -> None:
    """Task automation for road-freight carriers: configuration, import, tasks and emails."""


def main() -> None:
    """Run the CLI; a `HaulflowError` becomes a message and an exit code, not a traceback.

    Usage errors (unknown option, bad value) are printed by typer itself in standalone mode.
    """
    # No haulflow command may start a temporary Prefect server by accident (Prefect starts one
    # when no API URL is set, which takes seconds and loses the runs' history).
    forbid_ephemeral_server()
    try:
        build_app(sys.argv[1:])()
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
    from services.schema import database_label

    return database_label()
