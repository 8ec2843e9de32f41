"""Sending scenarios: a mailbox on a real SMTP server, a document store, uploads, a drain.

The fixtures are registered in tests/conftest.py for every suite.

Each scenario runs on SQLite and PostgreSQL; the ones marked with the `store` fixture also
run on the local folder and on S3 over HTTP (moto's server).
"""

from __future__ import annotations

import hashlib
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from sqlmodel import Session

from core.settings import get_settings
from delivery.claims import claim_ready_tasks
from delivery.reports import DeliveryReport
from delivery.sender import deliver_tasks
from ingestion.intake import record_and_open_gates
from lifecycle.document_gate import open_document_gates
from lifecycle.entities import EntityRef
from lifecycle.generation import generate_tasks
from models import Category, DocumentType, Order, utcnow
from storage.base import DocumentStore
from storage.folder import FolderStore
from storage.s3 import S3Store
from tests.factories import apply_config, make_contact, make_order, make_party
from tests.servers import SmtpSink

HEADER = """
schema_version: 1
carrier: {name: Transports Test}
fallback_role: operations
extra_fields: {trips: {contact_emails: true}}
users:
  - {username: alice, name: Alice Martin, email: alice@transports-test.example}
mailboxes:
  - key: pod
    from: "Transports Test <pod@transports-test.example>"
    smtp: {host: 127.0.0.1, port: PORT, security: plain}
    bounce: bounces@transports-test.example
    max_message_bytes: MAXBYTES
    paused: PAUSED
"""

# The automatic POD/CMR task: POD and CMR required, to the trip contacts and CMR/POD contacts.
SEND_POD = """
    - key: send-pod
      name: Envoi automatique POD
      execution: EXECUTION
      schedule: {on: documents}
      intended_for: {trip_contacts: true, roles: [cmr-pod-processing]}
      required_documents: [pod, cmr]
      mailbox: pod
      reply_to: "Service client <service@transports-test.example>"
      on_uncertain_delivery: UNCERTAIN
      on_corrected_document: CORRECTED
      email:
        default_language: fr
        languages:
          fr:
            subject: "POD/CMR commande {{ order.reference }}"
            text_path: templates/send-pod/fr.txt
            html_path: templates/send-pod/fr.html
          en: {subject: "POD/CMR order {{ order.reference }}", text_path: templates/send-pod/en.txt}
"""

# The same on trips: one e-mail per customer of a groupage trip.
TRIP_POD = """
    - key: trip-pod
      name: POD du trajet
      execution: EXECUTION
      schedule: {on: documents}
      intended_for: {trip_contacts: true, roles: [cmr-pod-processing]}
      required_documents: [pod]
      mailbox: pod
      on_corrected_document: CORRECTED
      email:
        default_language: en
        languages:
          en:
            subject: "Trip {{ trip.reference }}: PODs"
            text: |
              {% for order in orders %}{{ order.reference }} {{ order.customer_reference or "" }}
              {% endfor %}{% for customer in customers %}{{ customer.reference }}
              {% endfor %}{% for document in documents %}{{ document.filename }}
              {% endfor %}
"""


def pdf(label: str, size: int = 2_000) -> bytes:
    """A distinct small PDF-looking file."""
    body = hashlib.sha256(label.encode()).digest() * (size // 32 + 1)
    return b"%PDF-1.7\n" + body[:size]


@dataclass
class Mailroom:
    """Everything a sending scenario needs, bound to one database, store and SMTP server."""

    session: Session
    store: DocumentStore
    sink: SmtpSink

    def configure(
        self,
        *,
        orders: str = SEND_POD,
        trips: str = "",
        bookings: str = "",
        invoices: str = "",
        execution: str = "automatic",
        uncertain: str = "resend",
        corrected: str = "ignore",
        paused: bool = False,
        max_bytes: int = 10_000_000,
        password_secret: str | None = None,
    ) -> None:
        header = (
            HEADER.replace("PORT", str(self.sink.port))
            .replace("MAXBYTES", str(max_bytes))
            .replace("PAUSED", "true" if paused else "false")
        )
        if password_secret is not None:
            login = f"username: pod, password_secret: {password_secret}, allow_plain_login: true"
            header = header.replace("security: plain}", f"security: plain, {login}}}")
        tasks = "tasks:\n"
        sections = (("orders", orders), ("bookings", bookings), ("trips", trips))
        for section, text in (*sections, ("invoices", invoices)):
            if text:
                text = textwrap.dedent(text).replace("EXECUTION", execution)
                text = text.replace("UNCERTAIN", uncertain).replace("CORRECTED", corrected)
                tasks += f"  {section}:\n" + textwrap.indent(text, "  ")
        apply_config(self.session, header + tasks)
        self.session.commit()

    def order(self, contact: str = "pod@customer.example", **overrides: Any) -> Order:
        """An order whose customer has one CMR/POD contact, its tasks generated, committed."""
        customer = make_party(self.session)
        make_contact(self.session, customer, "cmr-pod-processing", email=contact)
        order = make_order(self.session, customer, **overrides)
        generate_tasks(
            session=self.session,
            category=Category.ORDER,
            entity_ids=[order.id],
            now=utcnow(),
            by="test",
        )
        self.session.commit()
        return order

    def upload(self, order: Order, kind: str, data: bytes, *, source: str = "test") -> None:
        """What `haulflow documents upload` does: record, corrections, gates, one commit."""
        record_and_open_gates(
            session=self.session,
            store=self.store,
            ref=EntityRef(Category.ORDER, order.reference),
            doc_type=DocumentType(kind),
            data=data,
            filename=f"scan-{kind}.pdf",
            source=source,
            max_bytes=get_settings().max_document_bytes,
            now=utcnow(),
        )
        self.session.commit()

    def drain(
        self, *, now: Callable[[], datetime] = utcnow, by: str = "automation"
    ) -> DeliveryReport:
        """What one `dispatch` run does: open gates, then claim and send until none is left."""
        report = DeliveryReport()
        started = now()
        with Session(self.session.get_bind()) as session:
            open_document_gates(session=session, now=started, by=by)
            session.commit()
        while True:
            with Session(self.session.get_bind()) as session:
                ids = claim_ready_tasks(session=session, now=now(), by=by, limit=50, due_by=started)
                session.commit()
            if not ids:
                break
            report.merge(deliver_tasks(task_ids=ids, store=self.store, by=by, now=now))
        self.session.expire_all()
        return report


@pytest.fixture(params=["folder", "s3"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, s3_endpoint: str
) -> Iterator[DocumentStore]:
    """The folder store and an S3 bucket on moto's server over HTTP."""
    if request.param == "folder":
        yield FolderStore(tmp_path / "documents")
        return
    bucket = request.getfixturevalue("s3_env")
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="eu-west-1")
    yield S3Store(client, bucket, prefix="haulflow")


@pytest.fixture
def folder_store(tmp_path: Path) -> DocumentStore:
    return FolderStore(tmp_path / "documents")


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries are due at once, so a test drives them without waiting."""
    monkeypatch.setenv("HAULFLOW_SEND_RETRY_BASE_SECONDS", "0")
    get_settings.cache_clear()


@pytest.fixture
def mailroom(
    session: Session, store: DocumentStore, smtp_sink: SmtpSink, quick_retries: None
) -> Mailroom:
    """A scenario on each database and each store."""
    return Mailroom(session, store, smtp_sink)


@pytest.fixture
def folder_mailroom(
    session: Session, folder_store: DocumentStore, smtp_sink: SmtpSink, quick_retries: None
) -> Mailroom:
    """A scenario on each database, with the folder store only."""
    return Mailroom(session, folder_store, smtp_sink)
