"""Fixtures that write configuration files to a temporary folder and validate them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from core.errors import Problem
from models.configuration import validate_configuration

# A valid file without tasks; tests append a `tasks:` section (or other top-level keys).
HEADER = """\
schema_version: 1
carrier: {name: Transports Test}
extra_fields: {trips: {contact_emails: true}}
roles:
  - {key: night-desk, name: Night desk}
teams:
  - {key: customer-service, name: Service client}
users:
  - {username: alice, name: Alice, email: alice@carrier.example, teams: [customer-service]}
mailboxes:
  - key: pod
    from: "Transports Test <pod@carrier.example>"
    smtp: {host: smtp.carrier.example, password_secret: SMTP_POD_PASSWORD}
"""

Check = Callable[..., list[Problem]]
LineOf = Callable[[str, str], int]


@pytest.fixture
def header() -> str:
    """The valid header every test file starts from."""
    return HEADER


@pytest.fixture
def check(tmp_path: Path) -> Check:
    """Write `text` as a configuration file, validate it, return its problems (all located)."""

    def run(text: str, name: str = "tasks.yaml") -> list[Problem]:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        configuration, problems = validate_configuration(path)
        assert (configuration is None) == bool(problems)
        assert all(problem.line > 0 and problem.file == str(path) for problem in problems)
        return problems

    return run


@pytest.fixture
def line_of() -> LineOf:
    """The 1-based line of the only line of `text` containing `needle`."""

    def find(text: str, needle: str) -> int:
        lines = [number for number, line in enumerate(text.splitlines(), 1) if needle in line]
        assert len(lines) == 1, f"{needle!r} is on lines {lines}"
        return lines[0]

    return find
