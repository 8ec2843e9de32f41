"""`haulflow config validate|apply|show` as an operator runs them."""

from __future__ import annotations

import json
import shutil
from email.utils import parseaddr
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.cli.conftest import REPO, RunCli

EXAMPLE = REPO / "examples" / "tasks.yaml"

BROKEN = """\
schema_version: 1
carrier: {name: Test}
tasks:
  orders:
    - key: send-pod
      name: Send POD
      execution: automatic
      intended_for: {roles: [custmer]}
"""


def count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_validate_example_succeeds(run_cli: RunCli) -> None:
    result = run_cli("config", "validate", EXAMPLE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def test_validate_broken_file_prints_located_problems(run_cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    result = run_cli("config", "validate", path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(
        line.startswith(f"{path}:8: ") and "did you mean 'customer'" in line for line in lines
    )
    assert any("mailbox" in line for line in lines)
    assert "Traceback" not in result.stderr


def test_apply_invalid_file_writes_nothing(run_cli: RunCli, engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    result = run_cli("config", "apply", path)
    assert result.returncode == 1
    assert f"{path}:8:" in result.stderr
    assert "nothing was written" in result.stderr
    assert "Traceback" not in result.stderr
    assert count(engine, "config_versions") == 0
    assert count(engine, "task_definitions") == 0


def test_apply_stores_versions_and_reports_changes(
    run_cli: RunCli, engine: Engine, tmp_path: Path
) -> None:
    first = run_cli("config", "apply", EXAMPLE, "--by", "alice")
    assert first.returncode == 0, first.stderr
    assert "as version 1" in first.stdout
    assert "+ task order/send-pod (Envoi automatique POD)" in first.stdout

    again = run_cli("config", "apply", EXAMPLE)
    assert "unchanged" in again.stdout
    assert count(engine, "config_versions") == 1

    changed = tmp_path / "tasks.yaml"
    text = EXAMPLE.read_text().replace("<service@", "<support@", 1)
    assert text != EXAMPLE.read_text()
    changed.write_text(text)
    shutil.copytree(REPO / "examples" / "templates", tmp_path / "templates")
    second = run_cli("config", "apply", changed)
    assert second.returncode == 0, second.stderr
    assert "as version 2" in second.stdout
    assert "~ task order/send-pod: reply_to" in second.stdout
    # Version 1's definitions stay for the tasks generated from them.
    with engine.connect() as connection:
        versions = connection.execute(
            sa.text(
                "SELECT config_version_id, reply_to FROM task_definitions WHERE key = 'send-pod'"
            )
        ).all()
    assert sorted((row[0], parseaddr(row[1])[1].split("@")[0]) for row in versions) == [
        (1, "service"),
        (2, "support"),
    ]


def test_show_never_prints_a_secret(
    run_cli: RunCli, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_POD_PASSWORD", "s3cret-pod-password")
    assert run_cli("config", "apply", EXAMPLE).returncode == 0
    shown = run_cli("config", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    payload = json.loads(shown.stdout)
    assert payload["version"] == 1
    assert (
        payload["configuration"]["mailboxes"][0]["smtp"]["password_secret"] == "SMTP_POD_PASSWORD"
    )
    assert "s3cret" not in shown.stdout
    table = run_cli("config", "show")
    assert "send-pod" in table.stdout and "s3cret" not in table.stdout


def test_show_before_any_apply_says_what_to_do(run_cli: RunCli, engine: Engine) -> None:
    result = run_cli("config", "show")
    assert result.returncode == 1
    assert "haulflow config apply" in result.stderr


def test_commands_on_an_unmigrated_database_say_to_upgrade(run_cli: RunCli) -> None:
    # No `engine` fixture: the default SQLite file under the test's var dir is empty.
    result = run_cli("config", "apply", EXAMPLE)
    assert result.returncode == 1
    assert "run `haulflow db upgrade` first" in result.stderr
    assert "Traceback" not in result.stderr
    upgraded = run_cli("db", "upgrade")
    assert upgraded.returncode == 0 and "upgraded from empty" in upgraded.stdout
    assert run_cli("config", "apply", EXAMPLE).returncode == 0
