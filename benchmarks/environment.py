"""Where a benchmark runs: a throw-away var folder, a fresh database, free ports, a sink.

Every scenario gets its own folder and database (SQLite under the folder, or a fresh
PostgreSQL database created on `HAULFLOW_BENCHMARK_POSTGRESQL`, default the local server's
`test` database's server, and dropped at the end), so the operator's data is never touched
and no scenario sees another's rows.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Literal

import sqlalchemy as sa

from core.database import engine_for, upgrade_database
from core.settings import get_settings

REPO = Path(__file__).resolve().parent.parent
Engine = Literal["sqlite", "postgresql"]
DEFAULT_POSTGRESQL = "postgresql://postgres@127.0.0.1:5432/test"


def postgresql_server() -> str | None:
    """The PostgreSQL server to create benchmark databases on, or None if none answers."""
    url = os.environ.get("HAULFLOW_BENCHMARK_POSTGRESQL", DEFAULT_POSTGRESQL)
    try:
        engine = sa.create_engine(sa.engine.make_url(url).set(drivername="postgresql+psycopg"))
        with engine.connect():
            pass
        engine.dispose()
    except sa.exc.OperationalError:
        return None
    return url


@contextmanager
def isolated(work: Path, engine: Engine) -> Iterator[str]:
    """Point this process (and what it starts) at `work` and a fresh database; its URL."""
    saved = dict(os.environ)
    work.mkdir(parents=True, exist_ok=True)
    for name in ("HAULFLOW_DATABASE_URL", "HAULFLOW_DOCUMENTS_DIR", "HAULFLOW_MAILSINK_DIR"):
        os.environ.pop(name, None)
    for name in [name for name in os.environ if name.startswith("PREFECT_")]:
        os.environ.pop(name)
    os.environ |= {
        "HAULFLOW_VAR_DIR": str(work / "var"),
        "HAULFLOW_SMTP_SINK_PORT": str(free_port()),
        "HAULFLOW_PREFECT_PORT": str(free_port()),
        # Long enough that no sweep runs during a measurement: what goes out, a dispatcher
        # sent (the sweep's share is counted, and must be zero).
        "HAULFLOW_SWEEP_INTERVAL_SECONDS": "3600",
        "PREFECT_HOME": str(work / "prefect-client"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    try:
        if engine == "postgresql":
            server = postgresql_server()
            if server is None:
                raise RuntimeError("no PostgreSQL server answers (HAULFLOW_BENCHMARK_POSTGRESQL)")
            with fresh_database(server, "haulflow_bench") as url:
                os.environ["HAULFLOW_DATABASE_URL"] = url
                get_settings.cache_clear()
                upgrade_database(engine_for(url))
                yield url
        else:
            get_settings.cache_clear()
            url = get_settings().resolved_database_url
            upgrade_database(engine_for(url))
            yield url
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


@contextmanager
def fresh_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new database on the PostgreSQL server, dropped at exit; its URL."""
    url = sa.engine.make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    database_url = url.set(database=name).render_as_string(hide_password=False)
    try:
        yield database_url
    finally:
        engine_for(database_url).dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def sink_process(directory: Path, *, accept_seconds: float = 0.0) -> Iterator[str]:
    """haulflow's mail sink in a process of its own (its work must not share this process's
    interpreter lock); its `host:port`."""
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    code = (
        "import signal; from pathlib import Path; from mail.sink import running_mail_sink\n"
        f"with running_mail_sink(Path({str(directory)!r}), {port}, "
        f"accept_seconds={accept_seconds}):\n    signal.pause()\n"
    )
    with background([sys.executable, "-c", code], directory.parent / "sink.log"):
        wait_for(lambda: listening(port), 30, "the mail sink")
        yield f"127.0.0.1:{port}"


@contextmanager
def background(
    command: list[str], log: Path, *, env: dict[str, str] | None = None, cwd: Path = REPO
) -> Iterator[subprocess.Popen[bytes]]:
    """A process in its own group, logging to `log`; stopped (TERM, then KILL) at exit."""
    log.parent.mkdir(parents=True, exist_ok=True)
    output: IO[bytes] = log.open("wb")
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=output, stderr=output, start_new_session=True
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        output.close()


def wait_for(condition: Any, seconds: float, what: str) -> None:
    """Poll `condition` until true; raise naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(0.05)
