"""Migrations build the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from core.database import current_revision, head_revision
from models import KNOWN_ROLES


def test_migrated_schema_matches_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_database_is_at_head(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()


def test_known_roles_are_seeded(engine: Engine) -> None:
    with engine.connect() as connection:
        keys = set(connection.execute(sa.text("SELECT key FROM roles WHERE builtin")).scalars())
    assert keys == set(KNOWN_ROLES)
