"""Shared fixtures: every database test runs once on SQLite and once on PostgreSQL.

PostgreSQL comes from `HAULFLOW_TEST_DATABASE_URL` (any database on the server; the suite
creates and drops its own). Without it the PostgreSQL half is skipped, except under CI,
where a missing PostgreSQL is a failure, not a skip.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

import models  # noqa: F401  (registers every table for the truncation below)
from core.database import engine_for, upgrade_database
from core.settings import get_settings
from tests.inbox import inbox  # noqa: F401  (a bucket notifying a queue, on moto's server)
from tests.mailroom import (  # noqa: F401  (fixtures shared by every suite)
    folder_mailroom,
    folder_store,
    mailroom,
    quick_retries,
    store,
)
from tests.servers import SmtpSink, running_smtp_sink

ENGINES = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating each time costs more)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = engine_for(f"sqlite:///{path}")
    upgrade_database(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    """A fresh migrated PostgreSQL database for this test session, dropped at the end."""
    server_url = os.environ.get("HAULFLOW_TEST_DATABASE_URL")
    if not server_url:
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL half: set HAULFLOW_TEST_DATABASE_URL")
        pytest.skip("PostgreSQL half skipped: HAULFLOW_TEST_DATABASE_URL is not set")
    url = sa.engine.make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"haulflow_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    test_url = url.set(database=name).render_as_string(hide_password=False)
    upgrade_database(engine_for(test_url))
    yield test_url
    engine_for(test_url).dispose()
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def empty_postgresql(engine: Engine) -> None:
    """Truncate every table of the test database but the built-in roles."""
    # Roles are seeded by the migration; everything else starts empty for each test.
    tables = [t.name for t in SQLModel.metadata.sorted_tables if t.name != "roles"]
    with engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {', '.join(tables)} CASCADE"))
        connection.execute(sa.text("DELETE FROM roles WHERE NOT builtin"))


@pytest.fixture(params=ENGINES)
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """The URL of an empty, migrated database, also set as HAULFLOW_DATABASE_URL."""
    if request.param == "sqlite":
        url = sqlite_copy(sqlite_template, tmp_path)
    else:
        url = request.getfixturevalue("postgresql_url")
        empty_postgresql(engine_for(url))
    monkeypatch.setenv("HAULFLOW_DATABASE_URL", url)
    return url


def sqlite_copy(template: Path, folder: Path) -> str:
    """The URL of a fresh copy of the migrated SQLite template in `folder`."""
    path = folder / "haulflow.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def sqlite_database(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """SQLite only (the embedded default), migrated, set as HAULFLOW_DATABASE_URL."""
    url = sqlite_copy(sqlite_template, tmp_path)
    monkeypatch.setenv("HAULFLOW_DATABASE_URL", url)
    get_settings.cache_clear()
    return url


@pytest.fixture
def postgresql_database(postgresql_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """PostgreSQL only (the production topology), emptied, set as HAULFLOW_DATABASE_URL."""
    empty_postgresql(engine_for(postgresql_url))
    monkeypatch.setenv("HAULFLOW_DATABASE_URL", postgresql_url)
    get_settings.cache_clear()
    return postgresql_url


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test gets its own `var` directory and freshly read settings."""
    for name in list(os.environ):
        # HAULFLOW_TEST_* configure the suite itself (PostgreSQL, the moved clock).
        if name.startswith("HAULFLOW_") and not name.startswith("HAULFLOW_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HAULFLOW_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def engine(database_url: str) -> Engine:
    """The engine of this test's database."""
    get_settings.cache_clear()
    return engine_for(database_url)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on this test's database."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API URL of a real `prefect server start`, started once per session on first use."""
    from tests.prefect_server import running_prefect_server

    with running_prefect_server(tmp_path_factory.mktemp("prefect-server")) as api_url:
        yield api_url


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free local port, answering real HTTP."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Credentials and region for boto3 against the local server; returns a fresh bucket."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    bucket = f"haulflow-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="eu-west-1")
    client.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    return bucket


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server over TCP on 127.0.0.1 that keeps every message it accepts."""
    with running_smtp_sink() as sink:
        yield sink


# Where time matters: schedules, due and overdue moments, retries and backoff, stale claims,
# settle windows, "the last hour" of `status`, waiting inbox drops, the served sweep's
# schedule. `./dev test` runs these again with the clock moved (tests/clock). Left out: the
# served tour of every deployment and the work pool (minutes each; what they check, the
# Prefect UI's path, does not depend on the date) and what never reads a clock.
TIME_SENSITIVE = (
    "tests/lifecycle/",
    "tests/delivery/",
    "tests/ingestion/",
    "tests/flows/",
    "tests/stack/test_status.py",
    "tests/cli/test_task_commands.py",
    "tests/cli/test_send_commands.py",
    "tests/cli/test_explain_command.py",
    "tests/deployments/test_serve.py",
    "tests/tasks/",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests of the time-sensitive modules `clock`."""
    root = Path(str(config.rootpath))
    for item in items:
        relative = Path(str(item.path)).relative_to(root).as_posix()
        if relative.startswith(TIME_SENSITIVE):
            item.add_marker(pytest.mark.clock)
