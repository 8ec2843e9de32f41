"""Validate a task-configuration file and report every problem as `FILE:LINE: message`."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from core.errors import InvalidFileError, Problem
from core.sourcefile import Loc, SourceDocument, load_source
from models.configuration.checks import Checker
from models.configuration.messages import problems_from_error
from models.configuration.schema import Configuration, EmailSpec, TaskDefinition


def validate_configuration(
    path: Path, *, display: str | None = None
) -> tuple[Configuration | None, list[Problem]]:
    """Check the file at `path`: the normalized configuration, or None and every problem.

    `display` is how the file is named in problems (defaults to `path` as given). Template
    files named by `text_path`/`html_path` are read relative to the file's folder.
    """
    try:
        source = load_source(path, display=display)
    except InvalidFileError as error:
        return None, error.problems
    return validate_source(source, base_dir=path.parent)


def load_configuration(path: Path, *, display: str | None = None) -> Configuration:
    """The normalized configuration of the file at `path`; raise InvalidFileError otherwise."""
    configuration, problems = validate_configuration(path, display=display)
    if configuration is None:
        raise InvalidFileError(problems)
    return configuration


def validate_source(
    source: SourceDocument, *, base_dir: Path
) -> tuple[Configuration | None, list[Problem]]:
    """Validate already-parsed configuration data; template paths resolve from `base_dir`."""
    problems = list(source.problems)
    if source.data is None:
        if not problems:
            problems.append(
                Problem(source.file, 1, "the file is empty; start with schema_version: 1")
            )
        return None, sorted(set(problems))
    if not isinstance(source.data, dict):
        message = "the file must be a mapping of keys (schema_version, carrier, tasks, ...)"
        return None, sorted({*problems, Problem(source.file, source.line_of(()), message)})
    configuration: Configuration | None = None
    try:
        configuration = Configuration.model_validate(source.data)
    except ValidationError as error:
        problems.extend(problems_from_error(error, source, Configuration))
    checker = Checker(source, base_dir)
    checker.run()
    problems.extend(checker.problems)
    if problems or configuration is None:
        return None, sorted(set(problems))
    return _normalize(configuration, checker.bodies), []


def _normalize(configuration: Configuration, bodies: dict[Loc, str]) -> Configuration:
    """Inline template files (keeping their paths) so the stored form is self-contained."""
    sections = {
        section: tuple(
            _inline(definition, ("tasks", section, index), bodies)
            for index, definition in enumerate(getattr(configuration.tasks, section))
        )
        for section in ("orders", "bookings", "trips", "invoices")
    }
    return configuration.model_copy(
        update={"tasks": configuration.tasks.model_copy(update=sections)}
    )


def _inline(definition: TaskDefinition, loc: Loc, bodies: dict[Loc, str]) -> TaskDefinition:
    if definition.email is None:
        return definition
    languages = {}
    for language, template in definition.email.languages.items():
        at = (*loc, "email", "languages", language)
        update = {
            part: bodies[(*at, f"{part}_path")]
            for part in ("text", "html")
            if (*at, f"{part}_path") in bodies
        }
        languages[language] = template.model_copy(update=update)
    email: EmailSpec = definition.email.model_copy(update={"languages": languages})
    return definition.model_copy(update={"email": email})
