"""The demo of `haulflow up --demo`: idempotent, valid scans, and a POD e-mail it can send."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core.settings import get_settings
from delivery.claims import claim_ready_tasks
from delivery.sender import deliver_tasks
from ingestion.documents import check_upload, record_document
from lifecycle.document_gate import open_document_gates
from lifecycle.entities import EntityRef
from mail.sink import running_mail_sink
from models import Category, Document, DocumentType, Order, Task, TaskStatus, utcnow
from stack.demo_data import demo_order_references, load_demo, minimal_pdf
from storage.folder import FolderStore
from tests.servers import free_port

TABLES = (
    "config_versions",
    "parties",
    "contacts",
    "orders",
    "trips",
    "tasks",
    "task_events",
    "status_changes",
)


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table: connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in TABLES
        }


def test_loading_twice_changes_nothing(engine: Engine) -> None:
    first = load_demo()
    assert first.config_applied and first.config_version == 1
    assert first.tasks_created > 0
    assert first.pdfs_written == len(first.pdfs) == 2 * len(demo_order_references())
    counts = row_counts(engine)
    # The example orders, and the older one with its two scans and no task.
    assert counts["orders"] == len(demo_order_references()) + 1
    assert counts["tasks"] == first.tasks_created
    with Session(engine) as session:
        older = session.exec(select(Order).where(Order.reference == "ORD-0999")).one()
        assert session.exec(select(Task).where(Task.entity_id == older.id)).all() == []
        documents = session.exec(select(Document).where(Document.order_id == older.id)).all()
        assert sorted(document.type for document in documents) == ["cmr", "pod"]
    modified = {path: path.stat().st_mtime_ns for path in first.pdfs}

    again = load_demo()

    assert not again.config_applied and again.config_version == 1
    assert again.tasks_created == 0 and again.pdfs_written == 0
    assert row_counts(engine) == counts
    assert {path: path.stat().st_mtime_ns for path in again.pdfs} == modified
    assert "tasks generated: 0" in again.lines()
    # Each file names itself: the older order's line is not labelled as the entities file's.
    [older_line] = [line for line in again.lines() if "ORD-0999" in line]
    assert older_line.startswith("older-order.yaml: order ORD-0999 from before the automation")


def test_the_sample_scans_are_valid_pdfs(engine: Engine) -> None:
    summary = load_demo()
    pod = summary.pdfs[0]
    assert pod.parent == get_settings().var_dir / "demo"
    assert pod.name == "ORD-1001-pod.pdf"
    data = pod.read_bytes()
    assert data.startswith(b"%PDF-1.4\n") and data.endswith(b"%%EOF\n")
    assert b"(POD ORD-1001) Tj" in data
    # Each xref entry points at its object, and startxref at the table.
    startxref = int(data.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert data[startxref:].startswith(b"xref\n0 6\n")
    offsets = re.findall(rb"(\d{10}) 00000 n ", data)
    for number, offset in enumerate(offsets, start=1):
        assert data[int(offset) :].startswith(b"%d 0 obj\n" % number)
    assert check_upload(data, filename=pod.name, max_bytes=1_000_000) == ("application/pdf", ".pdf")


def test_a_text_with_parentheses_stays_one_string() -> None:
    assert b"(POD \\(copy\\) a\\\\b) Tj" in minimal_pdf(["POD (copy) a\\b"])


def test_uploading_the_demo_scans_sends_the_pod_email_to_the_sink(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = "ORD-1001"
    summary = load_demo()
    port = free_port()
    # As `haulflow up` runs it: every mailbox relayed to the local sink, no password read.
    monkeypatch.setenv("HAULFLOW_SMTP_RELAY", f"127.0.0.1:{port}")
    get_settings.cache_clear()
    store = FolderStore(get_settings().resolved_documents_dir)
    sink_dir = tmp_path / "mailsink"

    with Session(engine) as session:
        for doc_type in (DocumentType.POD, DocumentType.CMR):
            scan = next(path for path in summary.pdfs if path.name == f"{reference}-{doc_type}.pdf")
            record_document(
                session=session,
                store=store,
                ref=EntityRef(Category.ORDER, reference),
                doc_type=doc_type,
                data=scan.read_bytes(),
                filename=scan.name,
                source="test",
                max_bytes=1_000_000,
                now=utcnow(),
            )
        open_document_gates(session=session, now=utcnow(), by="test")
        session.commit()
        ids = claim_ready_tasks(session=session, now=utcnow(), by="test", limit=50)
        session.commit()
    with running_mail_sink(sink_dir, port):
        report = deliver_tasks(task_ids=ids, store=store, by="test")

    assert report.sent and not report.failed
    envelopes = [json.loads(path.read_text()) for path in sorted(sink_dir.glob("*.json"))]
    pod_mail = next(e for e in envelopes if e["mail_from"] == "bounces@transports-martin.example")
    # ACME's CMR/POD contact, also a contact of groupage trip TRP-501 (once). The trip's
    # other contact is Van den Berg's: another customer, so it gets nothing of ACME's order.
    assert pod_mail["rcpt_tos"] == ["exploitation@acme-logistique.example"]
    eml = (sink_dir / pod_mail["message_file"]).read_bytes()
    assert f"commande {reference}".encode() in eml
    with Session(engine) as session:
        order = session.exec(select(Order).where(Order.reference == reference)).one()
        task = session.exec(
            select(Task).where(Task.entity_id == order.id, Task.definition_key == "send-pod")
        ).one()
        assert task.status == TaskStatus.DONE
