"""Fixtures for flow tests: the session's real Prefect server, and the CLI in a subprocess.

The server (`prefect_api`, tests/conftest.py) starts once per test session on first use
(about 20 s), so every test needing it shares it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from core.prefect_runtime import prefect_connection

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

REPO = Path(__file__).resolve().parents[2]

# Two tasks on every order and one on every trip, all generated on creation.
CONFIG = """
schema_version: 1
carrier: {name: Transports Test}
tasks:
  orders:
    - {key: check-order, name: Check the order, responsible: "role:operations"}
    - {key: chase-pod, name: Chase the POD, responsible: "role:operations"}
  trips:
    - {key: check-trip, name: Check the trip, responsible: "role:operations"}
"""

# The CLI as an operator runs it, reporting on stderr whether Prefect got imported: a
# process that never imports Prefect cannot have started a Prefect server.
_CLI_PROBE = """
import sys
from cli.main import main
try:
    main()
finally:
    print(f"prefect imported: {'prefect' in sys.modules}", file=sys.stderr)
"""


@dataclass(frozen=True)
class CliRun:
    """A finished `haulflow` process and how long it took."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    prefect_imported: bool


RunHaulflow = Callable[..., CliRun]


@pytest.fixture(autouse=True)
def prefect_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Subprocesses get an empty PREFECT_HOME and no Prefect API unless a test sets one."""
    home = tmp_path / "prefect-home"
    monkeypatch.setenv("PREFECT_HOME", str(home))
    for name in ("PREFECT_API_URL", "PREFECT_PROFILE", "PREFECT_PROFILES_PATH"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def prefect(prefect_api: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """This test's Prefect calls, in process and in subprocesses, go to the session's server."""
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    with prefect_connection(prefect_api):
        yield prefect_api


@pytest.fixture
def prefect_client(prefect: str) -> Iterator[SyncPrefectClient]:
    """A client of the session's Prefect server, to read runs, artifacts and events."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        yield client


@pytest.fixture
def run_haulflow() -> RunHaulflow:
    """`run_haulflow("import", path)`: the console script in a subprocess, timed."""

    def run(*args: str | Path) -> CliRun:
        started = time.monotonic()
        process = subprocess.run(
            [sys.executable, "-c", _CLI_PROBE, *map(str, args)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=180,
        )
        seconds = time.monotonic() - started
        stderr, _, probe = process.stderr.rstrip().rpartition("\n")
        stderr = stderr if probe.startswith("prefect imported:") else process.stderr
        return CliRun(
            returncode=process.returncode,
            stdout=process.stdout,
            stderr=stderr,
            seconds=seconds,
            prefect_imported=probe == "prefect imported: True",
        )

    return run
