"""Migrations build the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from core.database import MIGRATIONS_DIR, current_revision, engine_for, head_revision
from models import KNOWN_ROLES


def test_migrated_schema_matches_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_database_is_at_head(engine: Engine) -> None:
    with engine.connect() as connection:
        alembic_says = MigrationContext.configure(connection).get_current_revision()
    assert current_revision(engine) == alembic_says == head_revision()
    assert head_revision() == ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def test_a_database_never_migrated_has_no_revision(tmp_path: Path) -> None:
    assert current_revision(engine_for(f"sqlite:///{tmp_path / 'empty.db'}")) is None


def test_known_roles_are_seeded(engine: Engine) -> None:
    with engine.connect() as connection:
        keys = set(connection.execute(sa.text("SELECT key FROM roles WHERE builtin")).scalars())
    assert keys == set(KNOWN_ROLES)
