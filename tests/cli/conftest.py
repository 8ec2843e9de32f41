"""Run the real console script in a subprocess, as an operator would."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_cli() -> RunCli:
    """`run_cli("config", "validate", path)`: the finished process, output as text."""

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli", *map(str, args)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            env=None,  # the test's environment, with the fixtures' HAULFLOW_* settings
        )

    return run
