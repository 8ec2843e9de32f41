"""Engines, sessions and schema migrations for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlmodel import Session

from core.errors import NotConfiguredError
from core.settings import get_settings

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def _enable_sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # Concurrent readers while a flow writes; waits instead of "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


@cache
def engine_for(url: str) -> Engine:
    """One engine per database URL for the life of the process."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        database = sa.engine.make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False})
        sa.event.listen(engine, "connect", _enable_sqlite_foreign_keys)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def get_engine() -> Engine:
    """The engine of the configured database."""
    settings = get_settings()
    url = settings.resolved_database_url
    if settings.database_url is not None and url.startswith("sqlite"):
        # The embedded file's folder is made on first use; a folder that a URL names and
        # that does not exist is a typo, not a new database.
        database = sa.engine.make_url(url).database
        if database and database != ":memory:" and not Path(database).parent.is_dir():
            raise NotConfiguredError(
                f"HAULFLOW_DATABASE_URL names a file in {Path(database).parent}, a folder that "
                "does not exist: fix the URL, or create the folder for a new database"
            )
    return engine_for(url)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any error."""
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration bound to `engine`, independent of the working directory."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade_database(engine: Engine | None = None, revision: str = "head") -> None:
    """Apply migrations up to `revision`."""
    from alembic import command

    command.upgrade(alembic_config(engine or get_engine()), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it has never been migrated."""
    # Alembic's own table, read with one query: every command checks it, and importing
    # Alembic to read one row would cost a tenth of a second.
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    except (OperationalError, ProgrammingError) as error:
        if "alembic_version" in str(error):
            return None  # never migrated
        raise
    return str(rows[0][0]) if rows else None


_REVISION = re.compile(r'^revision: str = "(?P<id>[^"]+)"', re.MULTILINE)
_DOWN_REVISION = re.compile(r'^down_revision: str \| None = "(?P<id>[^"]+)"', re.MULTILINE)


@cache
def head_revision() -> str | None:
    """The newest revision shipped with this code: the one no other revision revises.

    Read from the revision files' own lines (a test checks it against Alembic's answer).
    """
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        revisions.update(match["id"] for match in _REVISION.finditer(text))
        revised.update(match["id"] for match in _DOWN_REVISION.finditer(text))
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 else None


def require_current_schema(engine: Engine | None = None) -> None:
    """Refuse to work on a database that is not migrated to this code's schema."""
    engine = engine or get_engine()
    current = current_revision(engine)
    if current != head_revision():
        where = "has no schema yet" if current is None else f"is at revision {current}"
        raise NotConfiguredError(
            f"the database {where}; this haulflow needs revision {head_revision()}: "
            "run `haulflow db upgrade` first"
        )
