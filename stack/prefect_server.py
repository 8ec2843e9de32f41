"""A real `prefect server start` in a child process: its home, its port, started and stopped.

Measured on Prefect 3: with no network, telemetry locks the SQLite database at start-up, so
analytics are always off. The server gets an environment without the caller's `PREFECT_*`
variables: the embedded stack is the same on every machine, whatever profile is active.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from core.errors import HaulflowError
from stack.processes import log_tail, port_in_use, start_logged, stop_process

# The first start with the UI copies its static files into the home: allow for it.
STARTUP_TIMEOUT_SECONDS = 90.0
HOST = "127.0.0.1"


class PrefectServerError(HaulflowError):
    """The Prefect server cannot start, or stopped answering."""


@dataclass(frozen=True)
class PrefectServer:
    """A started server process, where it answers and where it logs."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path
    ui: bool

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def server_environment(
    home: Path,
    *,
    host: str,
    port: int,
    ui: bool,
    log_level: str = "WARNING",
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The server's environment: its own PREFECT_HOME and SQLite file, no telemetry.

    `extra` overrides it: the production topology's PostgreSQL database and Redis broker.
    """
    env = {name: value for name, value in os.environ.items() if not name.startswith("PREFECT_")}
    own = {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_LOGGING_LEVEL": log_level,
        "PREFECT_SERVER_API_HOST": host,
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_UI_ENABLED": "true" if ui else "false",
        # The UI runs in a browser on this machine: it calls the API where the server is.
        "PREFECT_UI_API_URL": f"http://{host}:{port}/api",
        # Offline by default: no promotional content fetched by the UI.
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
    }
    return env | own | dict(extra or {})


def start_prefect_server(
    *,
    home: Path,
    port: int,
    host: str = HOST,
    ui: bool = False,
    log_path: Path | None = None,
    log_level: str = "WARNING",
    extra_env: Mapping[str, str] | None = None,
) -> PrefectServer:
    """Start the server process (not yet answering: see `wait_until_healthy`)."""
    if port_in_use(host, port):
        raise PrefectServerError(
            f"port {port} on {host} is already in use, so the Prefect server cannot listen "
            "there: stop what uses it (another `haulflow up` or `prefect server start`?) or "
            "choose another port with HAULFLOW_PREFECT_PORT"
        )
    home.mkdir(parents=True, exist_ok=True)
    log_path = log_path or home / "server.log"
    process = start_logged(
        [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
        env=server_environment(
            home, host=host, port=port, ui=ui, log_level=log_level, extra=extra_env
        ),
        log_path=log_path,
    )
    return PrefectServer(process=process, host=host, port=port, log_path=log_path, ui=ui)


def wait_until_healthy(server: PrefectServer, *, timeout: float = STARTUP_TIMEOUT_SECONDS) -> None:
    """Return once the server answers its health check; raise if it exits or never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise PrefectServerError(
                f"the Prefect server exited with code {server.process.returncode}; "
                f"its log {server.log_path} ends with:\n{log_tail(server.log_path)}"
            )
        if is_healthy(server.api_url):
            return
        time.sleep(0.2)
    raise PrefectServerError(
        f"the Prefect server did not answer within {timeout:.0f} s; "
        f"its log {server.log_path} ends with:\n{log_tail(server.log_path)}"
    )


def is_healthy(api_url: str, timeout: float = 1.0) -> bool:
    """True when the server at `api_url` answers its health check."""
    try:
        return httpx.get(f"{api_url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def stop_prefect_server(server: PrefectServer) -> None:
    """Stop the server and its children (uvicorn, services): the whole process group."""
    stop_process(server.process)


@contextmanager
def running_prefect_server(
    *,
    home: Path,
    port: int,
    host: str = HOST,
    ui: bool = False,
    log_path: Path | None = None,
    log_level: str = "WARNING",
    timeout: float = STARTUP_TIMEOUT_SECONDS,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[PrefectServer]:
    """A started and healthy server, stopped at exit (also when the start fails)."""
    server = start_prefect_server(
        home=home,
        port=port,
        host=host,
        ui=ui,
        log_path=log_path,
        log_level=log_level,
        extra_env=extra_env,
    )
    try:
        wait_until_healthy(server, timeout=timeout)
        yield server
    finally:
        stop_prefect_server(server)
