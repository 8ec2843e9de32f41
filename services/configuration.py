"""The task configuration: apply a file as a new version, read the current one."""

from __future__ import annotations

from pathlib import Path

from core.database import session_scope
from delivery.email_tasks import active_usernames, email_task_keys
from models import Category, ConfigVersion
from models.configuration import Configuration
from models.configuration.store import (
    ApplyReport,
    apply_configuration,
    current_version,
    file_sha256,
)


def apply_file(configuration: Configuration, path: Path, *, by: str) -> ApplyReport:
    """Store `configuration`, read from `path` (`models.configuration.load_configuration`), as
    a new version (none when it equals the current one); existing tasks keep the version they
    were generated from."""
    return apply(configuration, source_name=str(path), source_sha256=file_sha256(path), by=by)


def apply(
    configuration: Configuration, *, source_name: str, source_sha256: str, by: str
) -> ApplyReport:
    """Store `configuration`, read from the source named (whose bytes hash to
    `source_sha256`), as a new version, as `apply_file` does."""
    with session_scope() as session:
        return apply_configuration(
            session=session,
            configuration=configuration,
            source_name=source_name,
            source_sha256=source_sha256,
            by=by,
        )


def current() -> ConfigVersion | None:
    """The configuration version in force, or None before the first `apply`."""
    with session_scope() as session:
        return current_version(session=session)


def hand_run_choices() -> tuple[dict[Category, list[str]], list[str]]:
    """What a hand run may be asked for: the e-mail task keys of each category, and the
    usernames of the active users."""
    with session_scope() as session:
        return email_task_keys(session=session), active_usernames(session=session)
