"""`haulflow tasks list|done|skip` as an operator runs them (logic is tested in lifecycle)."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, col, select

from lifecycle.generation import generate_tasks
from models import Category, TaskDefinition, utcnow
from tests.cli.conftest import RunCli
from tests.factories import apply_config, make_order, make_task

CONFIG = """\
schema_version: 1
carrier: {name: Transports Test}
users:
  - {username: alice, name: Alice, email: alice@carrier.example}
tasks:
  orders:
    - {key: send-pod-manual, name: Envoyer e-mail POD, execution: manual}
    - {key: check-delivery, name: Vérifier la livraison, execution: manual}
    - {key: archive, name: Archiver, execution: manual}
"""


@pytest.fixture
def task_ids(session: Session, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Order ORD-CLI with one open task per definition, committed; short ids by key."""
    monkeypatch.setenv("COLUMNS", "200")
    apply_config(session, CONFIG)
    order = make_order(session, reference="ORD-CLI")
    definitions = session.exec(select(TaskDefinition).order_by(col(TaskDefinition.position)))
    ids = {
        d.key: make_task(session, order, d.id, d.key).id.hex[:8]
        for d in reversed(list(definitions))
    }
    session.commit()
    return ids


def test_list_shows_the_order_page(run_cli: RunCli, task_ids: dict[str, str]) -> None:
    page = run_cli("tasks", "list", "order:ORD-CLI")
    assert page.returncode == 0, page.stderr
    out = page.stdout
    positions = [out.index(key) for key in ("send-pod-manual", "check-delivery", "archive")]
    assert positions == sorted(positions)
    assert "order ORD-CLI" in out and task_ids["archive"] in out

    as_json = run_cli("tasks", "list", "order:ORD-CLI", "--json")
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert [task["key"] for task in data["tasks"]] == [
        "send-pod-manual",
        "check-delivery",
        "archive",
    ]

    missing = run_cli("tasks", "list", "order:NOPE")
    assert missing.returncode == 1
    assert "order NOPE" in missing.stderr
    assert "Traceback" not in missing.stderr + missing.stdout


def test_done_then_worklist(
    run_cli: RunCli, task_ids: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAULFLOW_USER", "alice")
    done = run_cli("tasks", "done", task_ids["check-delivery"], "--note", "vu avec le chauffeur")
    assert done.returncode == 0, done.stderr
    assert f"done {task_ids['check-delivery']} (check-delivery on order ORD-CLI) by alice" in (
        done.stdout
    )

    unknown = run_cli("tasks", "done", "0123abcd", task_ids["archive"], "--by", "alice")
    assert unknown.returncode == 1
    assert "no task 0123abcd" in unknown.stderr and "nothing changed" in unknown.stderr
    assert "Traceback" not in unknown.stderr + unknown.stdout

    listed = run_cli("tasks", "list", "--status", "done,skipped", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)["tasks"]
    assert (row["short_id"], row["status"], row["completed_by"]) == (
        task_ids["check-delivery"],
        "done",
        "alice",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tasks", "list"], "give ENTITY (e.g. order:ORD-1001) or at least one of --status"),
        (["tasks", "list", "--status", "open,bogus"], "unknown status 'bogus'; valid: open,"),
        (["tasks", "list", "--category", "orders"], "unknown category 'orders'; valid: order,"),
        (["tasks", "done", "0123abcd"], "say who finishes the tasks: --by USERNAME"),
        # Recorded and printed in every history: one visible line.
        (["tasks", "skip", "0123abcd", "--note", "ok\x1b[2J"], "contains U+001B ESCAPE"),
        (
            ["documents", "upload", "order:X", "pod", "x.pdf", "--source", "scan\nFAKE"],
            "contains U+000A LINE FEED",
        ),
    ],
)
def test_bad_input_is_explained(run_cli: RunCli, args: list[str], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode != 0
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr + result.stdout


def test_recalculate_adds_the_new_definition_and_leaves_finished_tasks(
    run_cli: RunCli, session: Session
) -> None:
    apply_config(session, CONFIG)
    order = make_order(session, reference="ORD-RECALC")
    session.commit()
    generate_tasks(
        session=session, category=Category.ORDER, entity_ids=[order.id], now=utcnow(), by="test"
    )
    session.commit()
    done = run_cli("tasks", "list", "order:ORD-RECALC", "--json")
    archive = next(t for t in json.loads(done.stdout)["tasks"] if t["key"] == "archive")
    assert run_cli("tasks", "done", archive["id"], "--by", "alice").returncode == 0
    apply_config(session, CONFIG + "    - {key: call-customer, name: Appeler, execution: manual}\n")
    session.commit()

    result = run_cli("tasks", "recalculate", "order:ORD-RECALC", "--by", "alice")
    assert result.returncode == 0, result.stderr
    assert "+ call-customer" in result.stdout
    assert "= archive" in result.stdout
    page = json.loads(run_cli("tasks", "list", "order:ORD-RECALC", "--json").stdout)
    statuses = {task["key"]: task["status"] for task in page["tasks"]}
    assert statuses["archive"] == "done" and statuses["call-customer"] == "open"
