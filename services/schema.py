"""The database schema: which database, at which revision, migrating it, and refusing to
work on one this code does not match."""

from __future__ import annotations

from dataclasses import dataclass

from core.database import current_revision, get_engine, head_revision, upgrade_database
from core.database import require_current_schema as require_current_schema


@dataclass(frozen=True)
class SchemaState:
    """The configured database (its URL without the password) and its revisions."""

    database: str
    current: str | None
    head: str | None


def database_label() -> str:
    """The configured database's URL, password hidden."""
    return get_engine().url.render_as_string(hide_password=True)


def schema_state() -> SchemaState:
    """The database's revision beside the one this code expects."""
    return SchemaState(database_label(), current_revision(get_engine()), head_revision())


def upgrade() -> tuple[SchemaState, SchemaState]:
    """Migrate the database to this code's revision (created when empty); before and after."""
    before = schema_state()
    upgrade_database(get_engine())
    return before, schema_state()
