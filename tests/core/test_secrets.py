"""Reading a mailbox password from an environment variable or a Prefect Secret block."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import NotConfiguredError
from core.prefect_runtime import prefect_connection
from core.secrets import read_secret
from tests.servers import free_port


@pytest.fixture(autouse=True)
def no_prefect_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Prefect variable or profile of the machine leaks in."""
    for name in ("PREFECT_API_URL", "PREFECT_PROFILE", "PREFECT_PROFILES_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))


def test_an_environment_variable_gives_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_POD_PASSWORD", " s3cret with spaces ")

    assert read_secret("SMTP_POD_PASSWORD") == " s3cret with spaces "


@pytest.mark.parametrize("value", [None, ""])
def test_a_missing_or_empty_variable_says_which_to_set(
    value: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv("SMTP_POD_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("SMTP_POD_PASSWORD", value)

    with pytest.raises(NotConfiguredError) as raised:
        read_secret("SMTP_POD_PASSWORD")

    assert str(raised.value) == "mailbox password: set the environment variable SMTP_POD_PASSWORD"


def test_a_block_without_a_server_says_what_to_do() -> None:
    with pytest.raises(NotConfiguredError, match="no Prefect server;.*PREFECT_API_URL"):
        read_secret("prefect-block:smtp-pod")


def test_a_block_on_a_server_that_does_not_answer_names_its_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"http://127.0.0.1:{free_port()}/api"
    monkeypatch.setenv("PREFECT_API_URL", url)

    with pytest.raises(NotConfiguredError, match=f"no Prefect server answers at {url}"):
        read_secret("prefect-block:smtp-pod")


def test_no_server_means_prefect_is_never_imported(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from core.errors import NotConfiguredError\n"
        "from core.secrets import read_secret\n"
        "try:\n"
        "    read_secret('prefect-block:smtp-pod')\n"
        "except NotConfiguredError:\n"
        "    pass\n"
        "assert 'prefect' not in sys.modules, 'prefect was imported'\n"
    )
    env = {"PREFECT_HOME": str(tmp_path), "HAULFLOW_VAR_DIR": str(tmp_path / "var")}
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True
    )

    assert result.returncode == 0, result.stderr


def test_a_block_on_the_server_gives_its_text_exactly(
    prefect_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.blocks.system import Secret

    with prefect_connection(prefect_api):
        Secret(value="s3cret").save("smtp-pod", overwrite=True)
        # Secret.get() would turn this into the int 123456.
        Secret(value="123456").save("smtp-digits", overwrite=True)
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)

    assert read_secret("prefect-block:smtp-pod") == "s3cret"
    assert read_secret("prefect-block:smtp-digits") == "123456"
    with pytest.raises(NotConfiguredError, match="no such block.*prefect block create secret"):
        read_secret("prefect-block:smtp-missing")
