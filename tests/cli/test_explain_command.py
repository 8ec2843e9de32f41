"""`haulflow explain` as an operator runs it (the checks are tested in tests/delivery)."""

from __future__ import annotations

import json

import pytest

from lifecycle.generation import generate_tasks
from models import Category, utcnow
from tests.cli.conftest import RunCli
from tests.factories import make_contact, make_order, make_party
from tests.mailroom import Mailroom


@pytest.fixture
def older_order(folder_mailroom: Mailroom, monkeypatch: pytest.MonkeyPatch) -> str:
    """ORD-EXPLAIN, created and generated before the automation was configured."""
    monkeypatch.setenv("COLUMNS", "200")
    session = folder_mailroom.session
    customer = make_party(session)
    make_contact(session, customer, "cmr-pod-processing", email="pod@customer.example")
    order = make_order(session, customer, reference="ORD-EXPLAIN")
    generate_tasks(
        session=session, category=Category.ORDER, entity_ids=[order.id], now=utcnow(), by="test"
    )
    session.commit()
    folder_mailroom.configure()
    return "order:ORD-EXPLAIN"


def test_explain_prints_json_and_a_table(run_cli: RunCli, older_order: str) -> None:
    as_json = run_cli("explain", "send-pod", older_order, "--json")

    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert (data["task_key"], data["entity"], data["task_id"]) == ("send-pod", older_order, None)
    assert data["conclusion"] == "will not send by itself: created before the automation"
    checks = {check["name"]: check for check in data["checks"]}
    assert (
        checks["task"]["action"] == "`haulflow tasks run send-pod order:ORD-EXPLAIN` sends it once"
    )
    assert checks["mailbox"]["verdict"] == "ok"

    table = run_cli("explain", "send-pod", older_order, "--no-connect")
    assert table.returncode == 0, table.stderr
    assert "before the automation:" in table.stdout
    assert "not tried (--no-connect)" in table.stdout
    assert "conclusion: will not send by itself: created before the automation" in table.stdout


def test_an_unknown_entity_is_a_clear_error(run_cli: RunCli, older_order: str) -> None:
    missing = run_cli("explain", "send-pod", "order:NOPE")

    assert missing.returncode == 1
    assert "order NOPE does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr + missing.stdout
    malformed = run_cli("explain", "send-pod", "ORD-EXPLAIN")
    assert malformed.returncode == 1
    assert "write CATEGORY:REFERENCE" in malformed.stderr
