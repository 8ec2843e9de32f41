"""`tasks run`, `tasks resend` and `communications` as an operator runs them, end to end.

The order exists before the automation was configured (seed 8): only a hand run sends it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select

from models import Communication, Task, TaskStatus
from tests.cli.conftest import RunCli
from tests.factories import make_contact, make_order, make_party
from tests.mailroom import Mailroom, pdf


@pytest.fixture
def older_order(folder_mailroom: Mailroom, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """ORD-OLD, created before the configuration, with its POD and CMR uploaded by the CLI."""
    monkeypatch.setenv("COLUMNS", "200")
    session = folder_mailroom.session
    customer = make_party(session, language="en")
    make_contact(session, customer, "cmr-pod-processing", email="pod@customer.example")
    make_order(session, customer, reference="ORD-OLD")
    session.commit()
    folder_mailroom.configure()
    for kind in ("pod", "cmr"):
        (tmp_path / f"{kind}.pdf").write_bytes(pdf(kind))
    return "order:ORD-OLD"


def test_a_hand_run_on_an_older_order_sends_once(
    run_cli: RunCli, folder_mailroom: Mailroom, older_order: str, tmp_path: Path
) -> None:
    sink, session = folder_mailroom.sink, folder_mailroom.session
    for kind in ("pod", "cmr"):
        uploaded = run_cli("documents", "upload", older_order, kind, tmp_path / f"{kind}.pdf")
        assert uploaded.returncode == 0, uploaded.stderr

    preview = run_cli("tasks", "run", "send-pod", older_order, "--dry-run")
    assert preview.returncode == 0, preview.stderr
    assert "would send 1 e-mail" in preview.stdout
    assert "pod@customer.example" in preview.stdout
    assert "ORD-OLD-pod.pdf, ORD-OLD-cmr.pdf" in preview.stdout
    assert sink.received == []
    assert session.exec(select(Task)).all() == []  # a dry run writes nothing

    first = run_cli("tasks", "run", "send-pod", older_order, "--by", "alice")
    second = run_cli("tasks", "run", "send-pod", older_order, "--by", "alice")

    assert first.returncode == 0, first.stderr
    assert "created and queued" in first.stdout and "sent order:ORD-OLD" in first.stdout
    assert "already sent" in second.stdout
    page = run_cli("tasks", "list", older_order)
    assert "e-mail" in page.stdout and "pod@customer.example" in page.stdout
    assert "communications download" in page.stdout
    [received] = sink.received
    assert received.rcpt_tos == ("pod@customer.example",)
    session.expire_all()
    [task] = session.exec(select(Task)).all()
    assert (task.status, task.completed_by) == (TaskStatus.DONE, "alice")


def test_resend_to_another_address_and_download_the_archive(
    run_cli: RunCli, folder_mailroom: Mailroom, older_order: str, tmp_path: Path
) -> None:
    sink, session = folder_mailroom.sink, folder_mailroom.session
    for kind in ("pod", "cmr"):
        run_cli("documents", "upload", older_order, kind, tmp_path / f"{kind}.pdf")
    run_cli("tasks", "run", "send-pod", older_order, "--by", "alice")
    [task] = session.exec(select(Task)).all()

    resent = run_cli(
        "tasks", "resend", task.id.hex[:8], "--to", "Check@Carrier.example", "--by", "alice"
    )

    assert resent.returncode == 0, resent.stderr
    assert [r.rcpt_tos for r in sink.received] == [
        ("pod@customer.example",),
        ("check@carrier.example",),
    ]
    first, again = (r.message for r in sink.received)
    assert first["Message-ID"] != again["Message-ID"]
    assert [p.get_content() for p in first.iter_attachments()] == [
        p.get_content() for p in again.iter_attachments()
    ]
    listed = run_cli("communications", "list", older_order, "--json")
    rows = json.loads(listed.stdout)
    assert [row["requested_by"] for row in rows] == ["alice", "alice"]
    target = tmp_path / "copy.eml"
    downloaded = run_cli("communications", "download", rows[1]["id"], "-o", target)
    assert downloaded.returncode == 0, downloaded.stderr
    assert target.read_bytes() == sink.received[1].data
    session.expire_all()
    assert len(session.exec(select(Communication)).all()) == 2


def test_refusals_are_clear_and_change_nothing(
    run_cli: RunCli, folder_mailroom: Mailroom, older_order: str
) -> None:
    unknown = run_cli("tasks", "run", "no-such-task", older_order, "--by", "alice")
    nobody = run_cli("tasks", "run", "send-pod", older_order)
    stranger = run_cli("tasks", "run", "send-pod", older_order, "--by", "mallory")
    missing = run_cli("tasks", "run", "send-pod", older_order, "--by", "alice")

    assert unknown.returncode == 1 and "no task definition 'no-such-task'" in unknown.stderr
    assert nobody.returncode == 1 and "--by USERNAME" in nobody.stderr
    assert stranger.returncode == 1 and "mallory" in stranger.stderr
    assert "missing documents: cmr, pod" in missing.stdout
    for result in (unknown, nobody, stranger, missing):
        assert "Traceback" not in result.stderr
    assert folder_mailroom.sink.received == []
