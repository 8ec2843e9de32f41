"""haulflow's design, served: upload → SMTP-accept latency, steady and in a burst.

The stack is `haulflow demo`'s (`stack.demo_stack`: migrate, sink, Prefect server,
`haulflow serve` with its dispatcher) in the scenario's own folder and database. One
automatic `send-pod` task per order needs a POD and a CMR; the clock starts right before
the upload that completes an order (its CMR) and stops at the sink's receipt of its e-mail.

Three ways in, as the product is used: `record_and_open_gates` in this process (what
`documents upload` does, minus the process start), the `haulflow documents upload` command
itself, and a drop in the bucket announced by S3 → SQS to `haulflow listen` (moto's server).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, partial
from pathlib import Path
from typing import Any

from sqlmodel import select

from benchmarks.environment import REPO, background, wait_for
from benchmarks.stack_harness import MailWatcher, prepare_orders
from core.database import session_scope
from core.settings import get_settings
from ingestion.intake import record_and_open_gates
from lifecycle.entities import parse_entity_ref
from models import Communication, DocumentType, utcnow
from stack.demo_data import minimal_pdf
from storage.base import DocumentStore
from storage.factory import open_document_store

REFERENCES = r"BENCH-[0-9A-F]{6}-\d{4}"


@dataclass
class Latencies:
    """Seconds from the completing upload to the e-mail, per order, and what went wrong."""

    seconds: list[float] = field(default_factory=list)
    missing: int = 0
    duplicates: int = 0
    by_sweep: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "count": len(self.seconds),
            "p50_s": percentile(self.seconds, 0.50),
            "p95_s": percentile(self.seconds, 0.95),
            "p99_s": percentile(self.seconds, 0.99),
            "max_s": max(self.seconds, default=None),
            "missing": self.missing,
            "duplicates": self.duplicates,
            "sent_by_sweep": self.by_sweep,
        }


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile, or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def scan(reference: str, kind: str) -> bytes:
    return minimal_pdf([f"{kind.upper()} {reference}", "benchmark scan"])


def upload(store: DocumentStore, reference: str, kind: str) -> None:
    """`haulflow documents upload order:REFERENCE KIND FILE`, minus the process start."""
    with session_scope() as session:
        record_and_open_gates(
            session=session,
            store=store,
            ref=parse_entity_ref(f"order:{reference}"),
            doc_type=DocumentType(kind),
            data=scan(reference, kind),
            filename=f"{reference}-{kind}.pdf",
            source="benchmark",
            max_bytes=get_settings().max_document_bytes,
            now=utcnow(),
        )


def steady(
    sink_dir: Path,
    count: int,
    gap: float,
    *,
    way: str,
    upload_cmr: Callable[[str], None],
    announce: Callable[[str], None] = lambda reference: None,
) -> dict[str, Any]:
    """Per order: its POD, `gap` seconds, then its CMR through `upload_cmr`; each e-mail
    awaited before the next order (uploads spread out, not a burst). `announce` runs after
    each upload (the naive design's event)."""
    store = open_document_store(get_settings())
    references = prepare_orders(count, get_settings().var_dir / "input")
    watcher = MailWatcher(sink_dir, REFERENCES)
    result = Latencies()
    started: dict[str, datetime] = {}
    for reference in references:
        upload(store, reference, "pod")
        announce(reference)
        time.sleep(gap)
        started[reference] = datetime.now(UTC)
        upload_cmr(reference)
        announce(reference)
        mail = watcher.wait_for(reference, 60)
        if mail is None:
            result.missing += 1
            continue
        result.seconds.append((mail.received_at - started[reference]).total_seconds())
    _settle(watcher, references, result)
    return {"way": way, "orders": count, "gap_s": gap, **result.summary()}


def cli_upload(reference: str) -> float:
    """`haulflow documents upload` in a process of its own; its wall time."""
    path = get_settings().var_dir / "input" / f"{reference}-cmr.pdf"
    path.write_bytes(scan(reference, "cmr"))
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "cli", "documents", "upload", f"order:{reference}", "cmr", path],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"documents upload failed: {done.stdout}{done.stderr}")
    return time.monotonic() - started


def burst(
    sink_dir: Path,
    count: int,
    uploaders: int,
    server_log: Path,
    announce: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """`count` orders, POD and CMR each, uploaded as fast as they can by `uploaders`
    processes (as concurrent uploaders are: `documents upload` commands, listeners, API
    workers, each a process of its own); `announce` runs after each upload (the naive
    design's event)."""
    references = prepare_orders(count, get_settings().var_dir / "input")
    watcher = MailWatcher(sink_dir, REFERENCES)
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(uploaders, mp_context=spawn, initializer=_uploader_started) as pool:
        # Every uploader started and connected before the clock starts.
        list(pool.map(_ready_to_upload, [0.5] * uploaders))
        first = datetime.now(UTC)
        completed = dict(pool.map(partial(_upload_order, announce=announce), references))
        last = datetime.now(UTC)
    intake_seconds = (last - first).total_seconds()
    deadline = time.monotonic() + max(120.0, count * 1.0)
    while time.monotonic() < deadline and len(watcher.found) < count:
        watcher.poll()
        time.sleep(0.2)
    result = Latencies()
    for reference in references:
        mails = watcher.found.get(reference, [])
        if mails:
            result.seconds.append((mails[0].received_at - completed[reference]).total_seconds())
    _settle(watcher, references, result)
    received = [mails[0].received_at for mails in watcher.found.values()]
    log = server_log.read_text(errors="replace") if server_log.is_file() else ""
    return {
        "orders": count,
        "documents": 2 * count,
        "uploaders": uploaders,
        "intake_seconds": intake_seconds,
        "intake_documents_per_s": 2 * count / intake_seconds,
        "last_email_after_last_upload_s": (max(received) - last).total_seconds()
        if received
        else None,
        "server_log_queue_full": log.count("queue is full"),
        "server_log_dropped": log.lower().count("dropped"),
        **result.summary(),
    }


def _uploader_started() -> None:
    # A pool's process ends with os._exit, which skips atexit: whatever events it emitted
    # (the naive design's) are sent before it ends, as a command's would be at its exit.
    multiprocessing.util.Finalize(None, _send_pending_events, exitpriority=10)


def _send_pending_events() -> None:
    if "prefect.events" in sys.modules:
        from prefect._internal.concurrency.services import QueueService

        QueueService.drain_all(timeout=30, at_exit=False)


@cache
def _store() -> DocumentStore:
    return open_document_store(get_settings())


def _ready_to_upload(pause: float) -> None:
    """Open the store and the database in this uploader process, then hold it a moment
    (so each warm-up call lands in a process of its own)."""
    with session_scope() as session:
        session.exec(select(Communication.id).limit(1)).all()
    _store()
    time.sleep(pause)


def _upload_order(reference: str, announce: Callable[[str], None] | None) -> tuple[str, datetime]:
    """One order's POD then CMR; the moment right before its CMR (the completing upload)."""
    upload(_store(), reference, "pod")
    if announce is not None:
        announce(reference)
    moment = datetime.now(UTC)
    upload(_store(), reference, "cmr")
    if announce is not None:
        announce(reference)
    return reference, moment


def _settle(watcher: MailWatcher, references: list[str], result: Latencies) -> None:
    """Count the missing and duplicated e-mails, and those a sweep sent, once all is quiet."""
    time.sleep(2)  # a duplicate would have arrived by now
    watcher.poll()
    result.missing = sum(1 for reference in references if reference not in watcher.found)
    result.duplicates = sum(max(0, len(watcher.found.get(r, [])) - 1) for r in references)
    result.by_sweep = _sent_by_sweep()


def _sent_by_sweep() -> int:
    """E-mails whose flow run is not a dispatcher's (a sweep's drain sent them)."""
    from prefect.client.orchestration import get_client

    with session_scope() as session:
        run_ids = set(session.exec(select(Communication.flow_run_id)).all())
    with get_client(sync_client=True) as client:
        flows: dict[Any, str] = {}
        senders = []
        for run_id in run_ids:
            if run_id is None:
                continue
            run = client.read_flow_run(run_id)
            if run.flow_id not in flows:
                flows[run.flow_id] = client.read_flow(run.flow_id).name
            senders.append(flows[run.flow_id])
    return sum(1 for name in senders if name != "dispatcher")


def listen_way(sink_dir: Path, count: int, gap: float, work: Path) -> dict[str, Any]:
    """Drops in the bucket's inbox (moto's S3 server), announced through SQS to `listen`."""
    from benchmarks.stack_harness import s3_client

    settings = get_settings()
    s3 = s3_client(settings.s3_endpoint_url or "")
    with background([sys.executable, "-m", "cli", "listen"], work / "listen.log"):
        wait_for(lambda: "listening" in (work / "listen.log").read_text(errors="ignore"), 60,
                 "listen")  # fmt: skip

        def drop(reference: str) -> None:
            key = f"{settings.s3_prefix}inbox/order/{reference}/cmr/scan.pdf"
            s3.put_object(Bucket=settings.s3_bucket, Key=key, Body=scan(reference, "cmr"))

        return steady(sink_dir, count, gap, way="S3 → SQS → listen", upload_cmr=drop)
