"""Inbox drops that cannot be recorded at once are remembered: refused, or waiting.

Through moto's server over HTTP, as in test_listener: the bucket notifies a real SQS queue
and the listener's turn reads it. The import is the real console script in a subprocess.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from core.database import get_engine
from ingestion.drop_intake import take_in_waiting
from models import Document, DropStatus, InboxDrop, Task, TaskStatus, utcnow
from tests.factories import make_contact, make_order, make_party
from tests.inbox import PREFIX, Inbox
from tests.mailroom import Mailroom, pdf
from tests.servers import SmtpSink

REPO = Path(__file__).resolve().parents[2]


def drops(session: Session) -> dict[str, InboxDrop]:
    session.expire_all()
    return {row.key.removeprefix(f"{PREFIX}/"): row for row in session.exec(select(InboxDrop))}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_pod_dropped_before_its_order_is_emailed_once_the_order_is_imported(
    inbox: Inbox, session: Session, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    room = Mailroom(session, inbox.store, smtp_sink)
    room.configure()
    customer = make_party(session, reference="CUST-EARLY")
    make_contact(session, customer, "cmr-pod-processing", email="pod@early.example")
    session.commit()
    inbox.handle()  # the configuration's test event
    inbox.drop("inbox/order/ORD-EARLY/pod/scan-1.pdf", pdf("early pod"))
    inbox.drop("inbox/order/ORD-EARLY/cmr/scan-2.pdf", pdf("early cmr"))

    report = inbox.handle()
    assert sorted(report.pending) == [
        f"{PREFIX}/inbox/order/ORD-EARLY/cmr/scan-2.pdf",
        f"{PREFIX}/inbox/order/ORD-EARLY/pod/scan-1.pdf",
    ]
    assert report.pending[f"{PREFIX}/inbox/order/ORD-EARLY/pod/scan-1.pdf"].startswith(
        "waiting for order ORD-EARLY, not imported yet: recorded once it is (until "
    )
    assert len(report.acknowledged) == 2 and inbox.waiting() == 0  # the rows remember them
    rows = drops(session)
    assert {row.status for row in rows.values()} == {DropStatus.PENDING}
    assert all(row.expires_at == row.first_seen_at + timedelta(hours=72) for row in rows.values())

    listed = run_cli("documents", "drops")
    assert listed.returncode == 0, listed.stderr
    assert "pending" in listed.stdout and "inbox/order/ORD-EARLY/pod/scan-1.pdf" in listed.stdout

    entities = tmp_path / "entities.yaml"
    entities.write_text(
        textwrap.dedent(f"""\
            orders:
              - reference: ORD-EARLY
                customer: {customer.reference}
                status: delivered
                pickup: {{country: FR, at: "2026-11-30T08:00:00+01:00"}}
                delivery: {{country: BE, at: "2026-12-01T14:00:00+01:00"}}
        """),
        encoding="utf-8",
    )
    imported = run_cli("import", str(entities))
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert imported.stdout.count("inbox drop recorded now that its entity exists") == 2

    rows = drops(session)
    assert {row.status for row in rows.values()} == {DropStatus.RECORDED}
    order_task = session.exec(select(Task)).one()
    assert order_task.status == TaskStatus.READY
    room.drain()
    [email] = smtp_sink.received
    assert "ORD-EARLY" in email.message["Subject"] and email.rcpt_tos == ("pod@early.example",)
    attached = sorted(part.get_filename() for part in email.message.iter_attachments())
    assert attached == ["ORD-EARLY-cmr.pdf", "ORD-EARLY-pod.pdf"]
    by_name = {part.get_filename(): part.get_content() for part in email.message.iter_attachments()}
    assert by_name["ORD-EARLY-pod.pdf"] == pdf("early pod")


def test_a_drop_whose_entity_never_comes_is_refused_after_the_wait(
    inbox: Inbox, session: Session
) -> None:
    inbox.handle()
    inbox.drop("inbox/order/ORD-NEVER/pod/x.pdf", pdf("never"))
    inbox.handle()
    engine = get_engine()
    # Before the end of the wait, nothing changes.
    early = take_in_waiting(
        store=inbox.store,
        settings=inbox.settings,
        engine=engine,
        now=utcnow() + timedelta(hours=71),
    )
    assert (
        early.refused == []
        and drops(session)["inbox/order/ORD-NEVER/pod/x.pdf"].status == "pending"
    )

    late = take_in_waiting(
        store=inbox.store,
        settings=inbox.settings,
        engine=engine,
        now=utcnow() + timedelta(hours=73),
    )
    [refused] = late.refused
    assert "order ORD-NEVER was still not in haulflow when the wait for it ended" in refused.message
    row = drops(session)["inbox/order/ORD-NEVER/pod/x.pdf"]
    assert (row.status, row.expires_at) == (DropStatus.REFUSED, None)
    assert session.exec(select(Document)).all() == []


def test_refused_drops_are_kept_with_their_reason_until_written_again(
    inbox: Inbox, session: Session
) -> None:
    order = make_order(session)
    session.commit()
    inbox.handle()
    inbox.drop(f"inbox/order/{order.reference}/pod/x.txt", b"plain text")
    inbox.drop(f"inbox/order/{order.reference}/pod/x.pdf", b"not a pdf either")
    inbox.handle()
    rows = drops(session)
    assert {key: row.status for key, row in rows.items()} == {
        f"inbox/order/{order.reference}/pod/x.txt": "refused",
        f"inbox/order/{order.reference}/pod/x.pdf": "refused",
    }
    assert "neither a PDF nor an image" in rows[f"inbox/order/{order.reference}/pod/x.pdf"].reason

    listed = run_cli("documents", "drops", "--status", "refused", "--json")
    assert listed.returncode == 0, listed.stderr
    assert '"status": "refused"' in listed.stdout and "neither a PDF" in listed.stdout

    # The scanning app writes the same key again, a real PDF this time.
    inbox.drop(f"inbox/order/{order.reference}/pod/x.pdf", pdf("fixed"))
    [recorded] = inbox.handle().recorded
    row = drops(session)[f"inbox/order/{order.reference}/pod/x.pdf"]
    assert (row.status, row.document_id) == (DropStatus.RECORDED, recorded.document_id)


@pytest.mark.usefixtures("database_url", "inbox")
def test_no_drop_lists_none() -> None:
    listed = run_cli("documents", "drops")
    assert (listed.returncode, listed.stdout.strip()) == (0, "no pending or refused inbox drop")


def test_a_refused_drop_raises_a_prefect_event(
    inbox: Inbox, session: Session, prefect_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    from core.events import DROP_REFUSED
    from core.prefect_runtime import prefect_connection

    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    inbox.handle()
    key = inbox.drop("inbox/order/ORD-1/pod/x.txt", b"plain text")
    report = inbox.handle()
    assert list(report.refused) == [key]
    row = drops(session)["inbox/order/ORD-1/pod/x.txt"]
    wanted = EventFilter(
        event=EventNameFilter(name=[DROP_REFUSED]),
        resource=EventResourceFilter(id=[f"haulflow.inbox.{row.id}"]),
    )
    with prefect_connection(prefect_api), get_client(sync_client=True) as client:
        deadline = time.monotonic() + 30
        while not (events := client.read_events(filter=wanted, limit=5).events):
            assert time.monotonic() < deadline, "no drop-refused event reached the server"
            time.sleep(0.5)
    [event] = events
    assert event.payload["key"] == key and "neither a PDF nor an image" in event.payload["reason"]
    assert event.resource["prefect.resource.name"] == key
