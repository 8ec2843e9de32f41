"""The raw limits a latency is compared with, measured in the same run on the same machine.

- SMTP: the sink's own acceptance rate, one reused connection, the benchmark's message bytes.
- Listing: the store listed as directly as possible (boto3's `list_objects_v2` pages, or a
  bare directory walk), then through `DocumentStore.list`, then the sweep's reconciliation
  (`delivery.reconciliation.reconcile_documents`), on the same objects.
"""

from __future__ import annotations

import os
import smtplib
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from core.database import get_engine
from delivery.reconciliation import PREFIX, SETTLE_TIME, reconcile_documents
from mail.sink import running_mail_sink
from models import utcnow
from stack.demo_data import minimal_pdf
from stack.demo_stack import free_port
from storage.base import DocumentStore
from storage.folder import FolderStore
from storage.s3 import S3Store


@dataclass(frozen=True)
class SmtpLimit:
    messages: int
    message_bytes: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds

    @property
    def ms_per_message(self) -> float:
        return 1000 * self.seconds / self.messages


@dataclass(frozen=True)
class ListingLimit:
    store: str
    keys: int
    raw_seconds: float
    store_seconds: float
    reconcile_seconds: float

    @property
    def raw_keys_per_second(self) -> float:
        return self.keys / self.raw_seconds

    def ms_per_1000(self, seconds: float) -> float:
        return 1000 * seconds * 1000 / self.keys


def measure_smtp(message: bytes, directory: Path, *, count: int = 200) -> SmtpLimit:
    """Send `message` `count` times over one connection to a fresh sink writing in `directory`."""
    with running_mail_sink(directory, free_port()) as sink:
        with smtplib.SMTP(sink.host, sink.port, timeout=30) as client:
            client.ehlo()
            started = time.perf_counter()
            for _ in range(count):
                client.sendmail("raw@benchmark.example", ["raw@client.example"], message)
            seconds = time.perf_counter() - started
    return SmtpLimit(count, len(message), seconds)


def measure_listing(kind: str, where: Path, *, s3_endpoint: str | None, keys: int) -> ListingLimit:
    """Fill a separate folder or bucket with `keys` documents, then time the three listings."""
    objects = _document_objects(keys)
    if kind == "s3":
        assert s3_endpoint is not None
        from benchmarks.stack_harness import S3_REGION, s3_client

        client: Any = s3_client(s3_endpoint)
        bucket = f"listing-{uuid.uuid4().hex[:8]}"
        client.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": S3_REGION}
        )
        store: DocumentStore = S3Store(client, bucket)
        _put_all(store, objects)
        started = time.perf_counter()
        listed = _raw_s3_list(client, bucket)
    else:
        root = where / "listing"
        store = FolderStore(root)
        for key, data in objects:
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        started = time.perf_counter()
        listed = sum(1 for _ in _walk(root))
    raw_seconds = time.perf_counter() - started
    started = time.perf_counter()
    store_listed = sum(1 for _ in store.list(PREFIX))
    store_seconds = time.perf_counter() - started
    reconcile_seconds, reconciled = _time_reconciliation(store)
    if not listed == store_listed == reconciled == keys:
        raise RuntimeError(f"listed {listed}, {store_listed} and {reconciled} of {keys} keys")
    return ListingLimit(kind, keys, raw_seconds, store_seconds, reconcile_seconds)


def _document_objects(count: int) -> list[tuple[str, bytes]]:
    """Keys in `record_document`'s layout, two per unknown order: listed, compared, refused."""
    data = minimal_pdf(["listing"])
    return [
        (f"{PREFIX}{uuid.uuid4()}/{kind}-{uuid.uuid4().hex[:16]}.pdf", data)
        for _ in range(count // 2)
        for kind in ("pod", "cmr")
    ] + ([(f"{PREFIX}{uuid.uuid4()}/pod-{uuid.uuid4().hex[:16]}.pdf", data)] if count % 2 else [])


def _put_all(store: DocumentStore, objects: list[tuple[str, bytes]]) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda item: store.put(item[0], item[1], content_type="application/pdf"), objects
            )
        )


def _raw_s3_list(client: Any, bucket: str) -> int:
    listed = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX):
        listed += len(page.get("Contents", []))
    return listed


def _walk(root: Path) -> Iterator[os.stat_result]:
    """Every file's stat under `root`: the least a listing with sizes and times must do."""
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(Path(entry.path))
            else:
                yield entry.stat()


def _time_reconciliation(store: DocumentStore) -> tuple[float, int]:
    """The sweep's reconciliation over the store, its objects seen as settled; rolled back."""
    from sqlmodel import Session

    with Session(get_engine()) as session:
        started = time.perf_counter()
        report = reconcile_documents(
            session=session,
            store=store,
            now=utcnow() + SETTLE_TIME + timedelta(minutes=1),
            max_bytes=20_000_000,
        )
        seconds = time.perf_counter() - started
        session.rollback()
    if report.recorded:
        raise RuntimeError(f"reconciliation recorded {report.recorded} listing objects")
    return seconds, report.listed


def measure_smtp_100kb(directory: Path, *, count: int = 300) -> SmtpLimit:
    """The sink's rate for a message carrying a 100 kB PDF, on one reused connection, the
    sink in a process of its own (as the benchmark's stacks send to)."""
    from email import policy
    from email.message import EmailMessage

    from benchmarks.environment import sink_process

    message = EmailMessage(policy=policy.SMTP)
    message["From"], message["To"], message["Subject"] = "a@b.example", "c@d.example", "raw"
    message.set_content("raw limit")
    message.add_attachment(os.urandom(100_000), maintype="application", subtype="pdf")
    data = message.as_bytes()
    with sink_process(directory) as address:
        host, _, port = address.rpartition(":")
        with smtplib.SMTP(host, int(port), timeout=60) as client:
            client.ehlo()
            started = time.perf_counter()
            for _ in range(count):
                client.sendmail("raw@benchmark.example", ["raw@client.example"], data)
            seconds = time.perf_counter() - started
    return SmtpLimit(count, len(data), seconds)


def measure_db_inserts(work: Path, engine: str, *, rows: int = 20_000) -> dict[str, float]:
    """Rows a second into a fresh table of the engine: in one transaction (the bulk rate) and
    one committed transaction per row (the rate a per-item commit can reach)."""
    import sqlalchemy as sa

    from benchmarks.environment import isolated

    with isolated(work, engine):  # type: ignore[arg-type]
        engine_ = get_engine()
        table = sa.table("raw_limit", sa.column("id"), sa.column("payload"))
        with engine_.begin() as connection:
            connection.execute(sa.text("DROP TABLE IF EXISTS raw_limit"))
            connection.execute(sa.text("CREATE TABLE raw_limit (id INTEGER, payload TEXT)"))
        values = [{"id": number, "payload": "x" * 100} for number in range(rows)]
        started = time.perf_counter()
        with engine_.begin() as connection:
            connection.execute(sa.insert(table), values)
        bulk = rows / (time.perf_counter() - started)
        single_rows = min(rows, 2_000)
        started = time.perf_counter()
        for value in values[:single_rows]:
            with engine_.begin() as connection:
                connection.execute(sa.insert(table), value)
        single = single_rows / (time.perf_counter() - started)
    return {"one_transaction_rows_per_s": bulk, "commit_per_row_rows_per_s": single}
