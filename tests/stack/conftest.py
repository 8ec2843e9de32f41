"""Fixtures for the stack's tests: the CLI in a subprocess, and no Prefect server by accident."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import run_cli  # noqa: F401  (the CLI suite's fixture, shared)


@pytest.fixture(autouse=True)
def no_prefect_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Prefect server unless a test names one: no variable, an empty profile home."""
    for name in ("PREFECT_API_URL", "PREFECT_PROFILE", "PREFECT_PROFILES_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
