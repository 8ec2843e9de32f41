"""`tasks run`, `tasks resend` and `communications` as an operator runs them, end to end.

The order exists before the automation was configured: only a hand run sends it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from core.database import get_engine
from delivery.dispatching import hold_lease
from lifecycle.generation import generate_tasks
from models import Category, Communication, Task, TaskStatus, utcnow
from tests.cli.conftest import RunCli
from tests.factories import make_contact, make_order, make_party, make_trip
from tests.mailroom import TRIP_POD, Mailroom, pdf


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

    # The same order named twice, spelled two ways: run once.
    twice = (older_order, f" ORDER:{older_order.partition(':')[2]} ")
    preview = run_cli("tasks", "run", "send-pod", *twice, "--dry-run")
    assert preview.returncode == 0, preview.stderr
    assert preview.stdout.count("would send 1 e-mail") == 1, preview.stdout
    # Who, in which language (the tag printed as written, not read as terminal markup).
    assert "to pod@customer.example [en] 'POD/CMR" in preview.stdout, preview.stdout
    assert "ORD-OLD-pod.pdf, ORD-OLD-cmr.pdf" in preview.stdout
    assert sink.received == []
    assert session.exec(select(Task)).all() == []  # a dry run writes nothing

    first = run_cli("tasks", "run", "send-pod", older_order, "--by", "alice")
    second = run_cli("tasks", "run", "send-pod", older_order, "--by", "alice")

    assert first.returncode == 0, first.stderr
    assert "created and queued" in first.stdout and "sent order:ORD-OLD" in first.stdout
    assert ", 2 attachments, <" in first.stdout, first.stdout
    assert "already sent" in second.stdout
    page = run_cli("tasks", "list", older_order)
    assert "e-mail" in page.stdout and "pod@customer.example" in page.stdout
    assert "communications download" in page.stdout
    [received] = sink.received
    assert received.rcpt_tos == ("pod@customer.example",)
    session.expire_all()
    [task] = session.exec(select(Task)).all()
    assert (task.status, task.completed_by) == (TaskStatus.DONE, "alice")


def test_a_dry_run_says_when_the_mailbox_password_cannot_be_read_here(
    run_cli: RunCli,
    folder_mailroom: Mailroom,
    older_order: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder_mailroom.configure(password_secret="SMTP_TEST_POD_PASSWORD")
    for kind in ("pod", "cmr"):
        run_cli("documents", "upload", older_order, kind, tmp_path / f"{kind}.pdf")
    monkeypatch.delenv("SMTP_TEST_POD_PASSWORD", raising=False)

    unreadable = run_cli("tasks", "run", "send-pod", older_order, "--dry-run")
    monkeypatch.setenv("SMTP_TEST_POD_PASSWORD", "secret")
    readable = run_cli("tasks", "run", "send-pod", older_order, "--dry-run")

    assert unreadable.returncode == 0, unreadable.stderr
    assert (
        "would send 1 e-mail (mailbox pod cannot log in: mailbox password: set the "
        "environment variable SMTP_TEST_POD_PASSWORD; it would wait)"
    ) in " ".join(unreadable.stdout.split())
    assert readable.returncode == 0, readable.stderr
    assert "would send 1 e-mail" in readable.stdout and "cannot log in" not in readable.stdout


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        ("451 4.3.0 try again later", "temporary: try again later"),
        (
            "554 5.7.1 no",
            "permanent: check the recipients and the mailbox, then resend",
        ),
    ],
)
def test_a_resend_the_server_refuses_says_so_and_leaves_the_task_done(
    run_cli: RunCli,
    folder_mailroom: Mailroom,
    older_order: str,
    tmp_path: Path,
    reply: str,
    kind: str,
) -> None:
    sink, session = folder_mailroom.sink, folder_mailroom.session
    for kind_of_scan in ("pod", "cmr"):
        run_cli("documents", "upload", older_order, kind_of_scan, tmp_path / f"{kind_of_scan}.pdf")
    run_cli("tasks", "run", "send-pod", older_order, "--by", "alice")
    [task] = session.exec(select(Task)).all()
    sink.reply_next(reply)

    resent = run_cli("tasks", "resend", task.id.hex[:8], "--by", "alice")

    assert resent.returncode == 1
    assert f"0 of 1 e-mail resent; the next one failed ({kind}):" in resent.stderr
    assert reply.split()[0] in resent.stderr and "Traceback" not in resent.stderr
    session.expire_all()
    assert session.get_one(Task, task.id).status == TaskStatus.DONE
    assert len(session.exec(select(Communication)).all()) == 1  # the first e-mail only
    again = run_cli("tasks", "resend", task.id.hex[:8], "--by", "alice")
    assert again.returncode == 0, again.stderr
    assert len(sink.received) == 2


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

    # To standard output, into a folder; a path it cannot write, a file it would clobber.
    piped = run_cli("communications", "download", rows[1]["id"], "-o", "-")
    # (the output read as text: its CRLF line ends read as LF)
    assert piped.returncode == 0
    assert piped.stdout.encode() == sink.received[1].data.replace(b"\r\n", b"\n")
    assert not Path("-").exists()
    folder = tmp_path / "mails"
    folder.mkdir()
    assert run_cli("communications", "download", rows[0]["id"], "-o", folder).returncode == 0
    assert (folder / f"{rows[0]['id']}.eml").read_bytes() == sink.received[0].data
    missing = run_cli("communications", "download", rows[0]["id"], "-o", tmp_path / "no" / "x")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert f"cannot write {tmp_path / 'no' / 'x'}: No such file or directory" in missing.stderr
    clobbered = run_cli("communications", "download", rows[0]["id"], "-o", target)
    assert clobbered.returncode == 1
    assert f"{target} exists and holds something else: choose another path" in clobbered.stderr
    assert target.read_bytes() == sink.received[1].data


def test_refusals_are_clear_and_change_nothing(
    run_cli: RunCli, folder_mailroom: Mailroom, older_order: str
) -> None:
    unknown = run_cli("tasks", "run", "no-such-task", older_order, "--by", "alice")
    nobody = run_cli("tasks", "run", "send-pod", older_order)
    stranger = run_cli("tasks", "run", "send-pod", older_order, "--by", "mallory")
    missing = run_cli("tasks", "run", "send-pod", older_order, "--by", "alice")
    no_day = run_cli("tasks", "run", "send-pod", "--created-before", "2026-02-30", "--by", "alice")
    both = run_cli(
        "tasks", "run", "send-pod", older_order, "--created-before", "2100-01-01", "--by", "alice"
    )  # fmt: skip

    assert no_day.returncode == 1 and "--created-before '2026-02-30': no such day" in no_day.stderr
    assert both.returncode == 1 and both.stderr.startswith(
        "error: name the entities or the day they were created before, not both"
    )
    assert unknown.returncode == 1 and "no task definition 'no-such-task'" in unknown.stderr
    assert nobody.returncode == 1 and "--by USERNAME" in nobody.stderr
    assert stranger.returncode == 1 and "mallory" in stranger.stderr
    assert "missing documents: cmr, pod" in missing.stdout
    for result in (unknown, nobody, stranger, missing, no_day, both):
        assert "Traceback" not in result.stderr
    assert folder_mailroom.sink.received == []


def test_the_email_names_its_attachments_and_a_corrected_pod_is_said_by_upload_and_explain(
    run_cli: RunCli, folder_mailroom: Mailroom, older_order: str, tmp_path: Path
) -> None:
    for kind in ("pod", "cmr"):
        run_cli("documents", "upload", older_order, kind, tmp_path / f"{kind}.pdf")
    run_cli("tasks", "run", "send-pod", older_order, "--by", "alice")
    [received] = folder_mailroom.sink.received
    body = received.message.get_body(("plain",))
    assert body is not None
    # The body lists the documents by the names they are attached under.
    text = body.get_content()
    assert "- POD: ORD-OLD-pod.pdf" in text and "- CMR: ORD-OLD-cmr.pdf" in text

    rescan = tmp_path / "rescan.pdf"
    rescan.write_bytes(pdf("pod, signed this time"))
    uploaded = run_cli("documents", "upload", older_order, "pod", rescan)

    assert uploaded.returncode == 0, uploaded.stderr
    assert "an e-mail already went out: send-pod on order:ORD-OLD went out" in uploaded.stdout
    assert (
        "with the earlier pod (ORD-OLD-pod.pdf); on_corrected_document: ignore" in uploaded.stdout
    )
    assert len(folder_mailroom.sink.received) == 1
    explained = run_cli("explain", "send-pod", older_order, "--json", "--no-connect")
    checks = {check["name"]: check for check in json.loads(explained.stdout)["checks"]}
    assert "pod rescan.pdf" in checks["corrected documents"]["detail"]
    assert "tasks resend" in checks["corrected documents"]["action"]


def test_communications_list_shows_the_trip_emails_that_carried_an_order(
    run_cli: RunCli, folder_mailroom: Mailroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    room = folder_mailroom
    room.configure(orders="", trips=TRIP_POD)
    customer = make_party(room.session)
    make_contact(room.session, customer, "cmr-pod-processing", email="pod@grouped.example")
    carried, alone = make_order(room.session, customer), make_order(room.session, customer)
    trip = make_trip(room.session, [carried])
    room.session.commit()
    generate_tasks(
        session=room.session, category=Category.TRIP, entity_ids=[trip.id], now=utcnow(), by="t"
    )
    room.session.commit()
    room.upload(carried, "pod", pdf("carried"))
    room.drain()

    listed = run_cli("communications", "list", f"order:{carried.reference}")
    as_json = [run_cli("communications", "list", f"order:{carried.reference}", "--json").stdout]
    as_json.append(run_cli("communications", "list", f"order:{carried.reference}", "--json").stdout)
    nothing = run_cli("communications", "list", f"order:{alone.reference}")

    assert listed.returncode == 0, listed.stderr
    assert f"trip:{trip.reference}" in listed.stdout and "pod@grouped.example" in listed.stdout
    [row] = json.loads(as_json[0])
    assert row["about"] == f"trip:{trip.reference}" and list(row) == sorted(row)
    assert as_json[0] == as_json[1]
    assert nothing.stdout.strip() == f"no e-mail was sent about order:{alone.reference}"


def test_a_run_over_many_older_orders_shows_progress_stops_on_ctrl_c_and_resumes(
    folder_mailroom: Mailroom, tmp_path: Path
) -> None:
    """As an operator runs it: a progress bar with ETA, Ctrl-C stops after the e-mail being
    sent (exit 130, what to do), the same command again sends the rest, none twice."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from core.settings import get_settings
    from storage.folder import FolderStore
    from tests.cli.conftest import REPO

    # Uploads into the store the command opens from its settings.
    store = FolderStore(get_settings().resolved_documents_dir)
    room = Mailroom(folder_mailroom.session, store, folder_mailroom.sink)
    session = room.session
    customer = make_party(session)
    make_contact(session, customer, "cmr-pod-processing", email="pod@customer.example")
    orders = [make_order(session, customer) for _ in range(80)]
    session.commit()
    room.configure()
    for order in orders:
        room.upload(order, "pod", pdf(f"pod {order.reference}", size=500))
        room.upload(order, "cmr", pdf(f"cmr {order.reference}", size=500))
    room.sink.take(0.05)  # a relay's pace: the run lasts long enough to be interrupted
    # The option names a day of the carrier's calendar, which may already be tomorrow in UTC.
    carrier_now = utcnow().astimezone(ZoneInfo(get_settings().timezone))
    tomorrow = (carrier_now + timedelta(days=1)).date().isoformat()
    command = [sys.executable, "-m", "cli", "tasks", "run", "send-pod", "--created-before",
               tomorrow, "--by", "alice"]  # fmt: skip

    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while len(room.sink.received) < 10:
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, out + err
    assert "stopping after the current e-mail" in err and "Traceback" not in err
    assert "ETA" in err and "of 80 entities looked at); run the same command again" in err
    stopped_at = len(room.sink.received)
    assert 10 <= stopped_at < 80

    again = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=120, env=os.environ
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{stopped_at} already sent" in again.stdout
    subjects = [str(received.message["Subject"]) for received in room.sink.received]
    assert len(subjects) == len(set(subjects)) == 80


def test_an_upload_that_readies_an_email_says_when_no_dispatcher_runs(
    run_cli: RunCli, folder_mailroom: Mailroom, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    room = folder_mailroom
    room.configure()
    first, second = room.order(), room.order()
    for kind in ("pod", "cmr"):
        (tmp_path / f"{kind}.pdf").write_bytes(pdf(kind))

    def upload(order: str, kind: str) -> str:
        uploaded = run_cli("documents", "upload", f"order:{order}", kind, tmp_path / f"{kind}.pdf")
        assert uploaded.returncode == 0, uploaded.stderr
        return uploaded.stdout

    assert "no dispatcher" not in upload(first.reference, "pod")  # nothing readied yet
    alone = upload(first.reference, "cmr")
    hold_lease(engine=get_engine(), lease="dispatcher:test", now=utcnow())
    served = upload(second.reference, "pod") + upload(second.reference, "cmr")

    assert "1 task(s) now have every required document" in alone
    assert "no dispatcher is running: their e-mails go out once `haulflow up`" in alone
    assert "1 task(s) now have every required document" in served
    assert "no dispatcher" not in served
