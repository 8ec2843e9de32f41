"""Finding the Prefect server without importing Prefect, and checking it answers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.prefect_runtime import prefect_api_url, prefect_server_reachable
from core.settings import get_settings
from tests.prefect_server import free_port

PROFILES = """
active = "local"

[profiles.local]
PREFECT_API_URL = "http://profile.example:4200/api"

[profiles.other]
PREFECT_API_URL = "http://other.example:4200/api"
"""


@pytest.fixture(autouse=True)
def prefect_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No Prefect variable of the machine leaks in; PREFECT_HOME is an empty folder."""
    for name in ("PREFECT_API_URL", "PREFECT_PROFILE", "PREFECT_PROFILES_PATH"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "prefect-home"
    home.mkdir()
    monkeypatch.setenv("PREFECT_HOME", str(home))
    return home


def write_url_file(url: str) -> None:
    path = get_settings().var_dir / "prefect-api-url"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(url + "\n", encoding="utf-8")


def test_nothing_configured_means_no_url() -> None:
    assert prefect_api_url() is None
    assert not prefect_server_reachable()


def test_the_environment_outranks_the_haulflow_file_which_outranks_the_profile(
    prefect_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (prefect_home / "profiles.toml").write_text(PROFILES, encoding="utf-8")
    assert prefect_api_url() == "http://profile.example:4200/api"
    monkeypatch.setenv("PREFECT_PROFILE", "other")
    assert prefect_api_url() == "http://other.example:4200/api"

    write_url_file("http://127.0.0.1:4300/api")
    assert prefect_api_url() == "http://127.0.0.1:4300/api"

    monkeypatch.setenv("PREFECT_API_URL", "http://env.example:4200/api")
    assert prefect_api_url() == "http://env.example:4200/api"


def test_a_broken_or_foreign_profiles_file_is_ignored(prefect_home: Path) -> None:
    (prefect_home / "profiles.toml").write_text("active = [", encoding="utf-8")
    assert prefect_api_url() is None
    (prefect_home / "profiles.toml").write_text('active = "ephemeral"\n', encoding="utf-8")
    assert prefect_api_url() is None


def test_a_closed_port_is_unreachable_at_once() -> None:
    started = time.monotonic()

    assert not prefect_server_reachable(api_url=f"http://127.0.0.1:{free_port()}/api")

    assert time.monotonic() - started < 1.0


def test_the_real_server_is_reachable(prefect_api: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert prefect_server_reachable(api_url=prefect_api)
    assert prefect_server_reachable(api_url=prefect_api + "/")
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    assert prefect_server_reachable()
