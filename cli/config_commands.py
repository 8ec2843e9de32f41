"""`haulflow config ...`: validate, apply and show the task configuration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from cli.output import console
from core.errors import NotConfiguredError
from core.moments import human_moment
from core.prefect_runtime import prefect_api_url, prefect_server_reachable
from models.configuration import Configuration, load_configuration, validate_configuration
from models.configuration.scalars import format_offset
from services.configuration import apply_file, current
from services.schema import require_current_schema

app = typer.Typer(help="Task configuration: validate, apply, show.", no_args_is_help=True)

ConfigFile = Annotated[Path, typer.Argument(help="The configuration file (YAML).")]


@app.command("validate")
def validate(file: ConfigFile) -> None:
    """Check a configuration file; print every problem as FILE:LINE: message, exit 1 if any."""
    configuration, problems = validate_configuration(file)
    for problem in problems:
        typer.echo(str(problem))
    if configuration is None:
        typer.echo(f"{len(problems)} problem(s) in {file}", err=True)
        raise typer.Exit(1)
    count = len(configuration.definitions())
    console.print(f"{escape(str(file))}: valid, {count} task definitions")


@app.command("apply")
def apply(
    file: ConfigFile,
    by: Annotated[str, typer.Option(help="Who applies, recorded with the version.")] = "cli",
) -> None:
    """Store the file as a new configuration version (existing tasks keep theirs)."""
    configuration = load_configuration(file)
    require_current_schema()
    report = apply_file(configuration, file, by=by)
    if report.version is None:
        console.print(
            f"unchanged: {escape(str(file))} equals version {report.previous}; nothing stored"
        )
        return
    console.print(f"applied {escape(str(file))} as version {report.version}")
    for change in report.changes:
        console.print(f"  {escape(change)}")
    console.print("existing tasks keep their version; new entities get this one")
    _offer_in_forms()


def _offer_in_forms() -> None:
    """The Prefect UI's hand-run forms offer the new task keys (the sweep would, later)."""
    url = prefect_api_url()
    if url is None or not prefect_server_reachable(api_url=url):
        return  # and Prefect is not even imported
    from tasks.forms import publish_current_choices

    try:
        changed = publish_current_choices(url)
    except Exception as error:  # the version is stored; a form is only a convenience
        console.print(
            f"the hand-run forms keep their choices until the next sweep ({escape(str(error))})"
        )
        return
    if changed:
        console.print(f"hand-run forms updated: {', '.join(changed)}")


@app.command("show")
def show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the current configuration version (secrets are never stored, so never shown)."""
    require_current_schema()
    version = current()
    if version is None:
        raise NotConfiguredError("no configuration applied yet: run `haulflow config apply FILE`")
    if as_json:
        payload: dict[str, Any] = {
            "version": version.id,
            "applied_at": version.applied_at.isoformat(),
            "applied_by": version.applied_by,
            "source": version.source_name,
            "sha256": version.source_sha256,
            "configuration": version.document,
        }
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    configuration = Configuration.model_validate(version.document)
    console.print(
        f"configuration version {version.id}, applied {human_moment(version.applied_at)} "
        f"by {escape(version.applied_by)} from {escape(version.source_name)}"
    )
    console.print(_mailbox_table(configuration))
    console.print(_definition_table(configuration))


def _mailbox_table(configuration: Configuration) -> Table:
    table = Table("mailbox", "from", "smtp", "password", "paused", title="Mailboxes")
    for mailbox in configuration.mailboxes:
        smtp = mailbox.smtp
        table.add_row(
            mailbox.key,
            escape(mailbox.from_),
            escape(f"{smtp.host}:{smtp.port} ({smtp.security})"),
            f"from {smtp.password_secret}" if smtp.password_secret else "none",
            "yes" if mailbox.paused else "no",
        )
    return table


def _definition_table(configuration: Configuration) -> Table:
    table = Table("key / name", "execution", "when", "intended for", "documents", "mailbox",
                  title="Task definitions")  # fmt: skip
    category = None
    for entry in configuration.definitions():
        if entry.category != category:
            category = entry.category
            table.add_section()
            table.add_row(f"[bold]{category}s[/bold]")
        definition = entry.definition
        schedule = definition.schedule
        when = " ".join(filter(None, [schedule.on, schedule.status, schedule.date]))
        if schedule.offset:
            when += f" {format_offset(schedule.offset)}"
        audience = definition.intended_for
        targets = [f"role:{role}" for role in audience.roles] + list(audience.addresses)
        if audience.trip_contacts:
            targets.append("trip contacts")
        execution = definition.execution + ("" if definition.auto_generate else ", not auto")
        if definition.responsible:
            execution += f"\n[dim]{definition.responsible}[/dim]"
        table.add_row(
            f"{definition.key}\n[dim]{escape(definition.name)}[/dim]",
            execution,
            when,
            escape("\n".join(targets)) or "-",
            "+".join(definition.required_documents) or "-",
            definition.mailbox or "-",
        )
    return table
