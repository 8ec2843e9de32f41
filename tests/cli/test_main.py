"""Mistakes at the command line get a usage message and exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from core.settings import Settings
from tests.cli.conftest import REPO, RunCli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-command"], "No such command"),
        (["tasks", "list", "--limit", "abc"], "Invalid value for '--limit'"),
        (["config", "validate"], "Missing argument"),
        (["documents", "upload", "order:X", "invoice", "x.pdf"], "Invalid value for 'TYPE'"),
        (["tasks", "list", "--status", "bogus"], "Invalid value for '--status'"),
        (["tasks", "list", "--category", "orders"], "Invalid value for '--category'"),
    ],
)
def test_usage_errors_are_short_messages(run_cli: RunCli, args: list[str], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def _order_and_scan(run_cli: RunCli, tmp_path: Path) -> Path:
    """A migrated database with order ORD-1, and a POD scan to upload for it."""
    assert run_cli("db", "upgrade").returncode == 0
    entities = tmp_path / "entities.yaml"
    entities.write_text(
        "parties:\n"
        "  - {reference: ACME, kind: customer, name: ACME, country: FR, language: fr,"
        " timezone: Europe/Paris}\n"
        "orders:\n  - {reference: ORD-1, customer: ACME, status: delivered}\n"
    )
    assert run_cli("import", entities).returncode == 0
    pod = tmp_path / "pod.pdf"
    pod.write_bytes(b"%PDF-1.7\nsigned")
    return pod


def test_a_problem_on_line_100_names_line_100(run_cli: RunCli, tmp_path: Path) -> None:
    """`:100:` is also an emoji code: the consoles must print it as the line it is."""
    assert run_cli("db", "upgrade").returncode == 0
    entities = tmp_path / "entities.yaml"
    padding = "".join(f"# line {number}\n" for number in range(1, 97))
    entities.write_text(
        padding + "parties:\n"
        "  - {reference: ACME, kind: customer, name: ACME, country: FR, language: fr,"
        " timezone: Europe/Paris}\n"
        "orders:\n  - {reference: ORD-1, customer: ACME, status: plannd}\n"
    )

    refused = run_cli("import", entities)

    assert refused.returncode == 1
    assert f"{entities}:100: order ORD-1: status" in refused.stderr, refused.stderr


@pytest.mark.parametrize("text", ["", "# the TMS exported nothing\n", "orders: []\n"])
def test_an_import_of_nothing_says_so(run_cli: RunCli, tmp_path: Path, text: str) -> None:
    assert run_cli("db", "upgrade").returncode == 0
    entities = tmp_path / "entities.yaml"
    entities.write_text(text)

    done = run_cli("import", entities)

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"imported {entities}: it holds no entity, nothing changed\n"


def test_an_empty_json_file_is_not_json(run_cli: RunCli, tmp_path: Path) -> None:
    assert run_cli("db", "upgrade").returncode == 0
    entities = tmp_path / "entities.json"
    entities.write_text("\n")

    refused = run_cli("import", entities)

    assert refused.returncode == 1
    assert f"{entities}:1: invalid JSON: the file is empty" in refused.stderr


def test_documents_upload_records_a_file(run_cli: RunCli, tmp_path: Path) -> None:
    pod = _order_and_scan(run_cli, tmp_path)
    first = run_cli("documents", "upload", "order:ORD-1", "pod", pod)
    assert first.returncode == 0, first.stderr
    assert "recorded pod pod.pdf for order ORD-1" in first.stdout
    again = run_cli("documents", "upload", "order:ORD-1", "pod", pod)
    assert "already recorded" in again.stdout
    bad = tmp_path / "notes.txt"
    bad.write_text("not a scan")
    refused = run_cli("documents", "upload", "order:ORD-1", "cmr", bad)
    assert refused.returncode == 1
    assert "neither a PDF nor an image" in refused.stderr and "Traceback" not in refused.stderr
    missing = run_cli("documents", "upload", "order:ORD-404", "pod", pod)
    assert missing.returncode == 1 and "order ORD-404 does not exist" in missing.stderr


def test_documents_upload_imports_only_what_an_upload_needs(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """Most of the command's second is imports: what it never uses must not load (the
    Prefect client, templates, address checks, the bucket's client, the file schema)."""
    pod = _order_and_scan(run_cli, tmp_path)
    upload = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "cli", "documents", "upload"]
        + ["order:ORD-1", "pod", str(pod)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert upload.returncode == 0, upload.stderr
    assert "recorded pod pod.pdf" in upload.stdout
    imported = {
        line.rpartition("|")[2].strip()
        for line in upload.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "sqlalchemy" in imported  # the measure works
    unused = {"prefect", "httpx", "jinja2", "email_validator", "botocore", "boto3"}
    assert imported & (unused | {"models.configuration.schema"}) == set()


def test_messages_never_break_a_path_on_a_narrow_terminal(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    result = run_cli("db", "upgrade")
    assert result.returncode == 0
    assert f"sqlite:///{tmp_path / 'var' / 'haulflow.db'}" in result.stdout


@pytest.mark.parametrize(
    ("variable", "value", "message", "command"),
    [
        # Ten seconds would queue sweeps behind each other: refused before anything starts.
        *(
            ("SWEEP_INTERVAL_SECONDS", "10", "Input should be greater than or equal to 30", c)
            for c in (["status"], ["serve"], ["tasks", "list", "--status", "open"])
        ),
        *(
            ("TIMEZONE", "Mars/Olympus", "not an IANA time zone; write one such as Europe/Paris", c)
            for c in (
                ["status"],
                ["config", "show"],
                ["db", "status"],
                ["communications", "list", "order:ORD-1"],
            )
        ),
    ],
)
def test_a_setting_that_does_not_fit_is_named_by_every_command(
    run_cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    message: str,
    command: list[str],
) -> None:
    monkeypatch.setenv(f"HAULFLOW_{variable}", value)
    result = run_cli(*command)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: HAULFLOW_{variable}='{value}': {message}; fix the variable or unset it"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql+asyncpg://ops:s3cret@db/haulflow", "through psycopg, not asyncpg"),
        ("mysql://ops:s3cret@db/haulflow", "give sqlite:///PATH (a file) or postgresql://"),
        ("db:5432/haulflow", "give sqlite:///PATH (a file) or postgresql://"),
    ],
)
def test_a_database_url_haulflow_cannot_use_is_named_without_its_password(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, url: str, message: str
) -> None:
    monkeypatch.setenv("HAULFLOW_DATABASE_URL", url)
    result = run_cli("db", "status")
    assert result.returncode == 1
    assert result.stderr.startswith("error: HAULFLOW_DATABASE_URL: ") and message in result.stderr
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr


def test_a_sqlite_url_in_a_folder_that_does_not_exist_creates_nothing(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    typo = tmp_path / "vra" / "haulflow.db"
    monkeypatch.setenv("HAULFLOW_DATABASE_URL", f"sqlite:///{typo}")
    result = run_cli("db", "status")
    assert result.returncode == 1
    assert f"names a file in {typo.parent}, a folder that does not exist" in result.stderr
    assert not typo.parent.exists()


def test_a_postgres_url_as_hosting_providers_write_it_is_read_as_postgresql() -> None:
    settings = Settings(database_url=SecretStr("postgres://ops@db:5432/haulflow"))
    assert settings.resolved_database_url == "postgresql://ops@db:5432/haulflow"
