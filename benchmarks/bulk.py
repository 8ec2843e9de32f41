"""Bulk work, each in a process of its own (its peak memory is its own): a retroactive hand
run over many older orders, generation for many new ones, a sweep over many waiting tasks,
the import of one large file (`--count` is then its size in MB).

    python -m benchmarks.bulk retro|generation|sweep|import --count N [--engine ...]

prints one JSON object. haulflow's way and the naive way (one task run per e-mail or per
entity, one HEAD request per awaited document) are measured in the same process, on the same
data, against the raw limits measured there too.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import smtplib
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo

import yaml
from sqlmodel import col, select

from benchmarks.environment import REPO, free_port, isolated, sink_process
from core.database import session_scope
from core.settings import get_settings
from core.sourcefile import parse_source
from ingestion.documents import document_key, record_document
from ingestion.importer import import_file
from lifecycle.entities import EntityRef
from lifecycle.generation import mark_generated
from models import Category, DocumentType, Order, User, utcnow
from models.configuration import validate_source
from models.configuration.store import apply_configuration
from storage.factory import open_document_store

if TYPE_CHECKING:
    from prefect.client.schemas.objects import State

CONFIG = """\
schema_version: 1
carrier: {name: Transports Benchmark}
fallback_role: operations
mailboxes:
  - key: pod
    from: "Transports Benchmark <pod@benchmark.example>"
    smtp: {host: 127.0.0.1, port: 25, security: plain}
tasks:
  orders:
    - key: send-pod
      name: Envoi automatique POD
      execution: automatic
      schedule: {on: documents}
      intended_for: {roles: [cmr-pod-processing]}
      required_documents: [pod, cmr]
      mailbox: pod
      email:
        default_language: fr
        languages:
          fr:
            subject: "POD/CMR commande {{ order.reference }}"
            text: "Bonjour, veuillez trouver le POD et le CMR de {{ order.reference }}."
"""
# A scanned page: about 100 kB, as the raw SMTP limit is measured with.
SCAN_BYTES = 100_000
IMPORT_CHUNK = 20_000  # orders per import file, well under the import size limit


def configure() -> None:
    source = parse_source(CONFIG, file="benchmark-tasks.yaml")
    configuration, problems = validate_source(source, base_dir=REPO)
    if configuration is None:
        raise RuntimeError(f"invalid benchmark configuration: {problems}")
    with session_scope() as session:
        apply_configuration(
            session=session,
            configuration=configuration,
            source_name="benchmark-tasks.yaml",
            source_sha256="-",
            by="benchmark",
        )
        session.add(User(username="alice", name="Alice", email="alice@benchmark.example"))


def import_orders(count: int, prefix: str, *, generated: bool) -> list[str]:
    """`count` orders of one customer; `generated` marks them as if created before the
    configuration (they get no task by themselves)."""
    references = [f"{prefix}-{number:06d}" for number in range(count)]
    folder = get_settings().var_dir / "input"
    folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, count, IMPORT_CHUNK):
        chunk = references[start : start + IMPORT_CHUNK]
        document = {
            "parties": [
                {
                    "reference": f"{prefix}-CUST",
                    "kind": "customer",
                    "name": "Benchmark Client SA",
                    "country": "FR",
                    "language": "fr",
                    "timezone": "Europe/Paris",
                    "contacts": [{"email": "pod@client.example", "roles": ["cmr-pod-processing"]}],
                }
            ],
            "orders": [
                {
                    "reference": reference,
                    "customer": f"{prefix}-CUST",
                    "status": "delivered",
                    "pickup": {"country": "FR", "at": "2026-11-02T08:00"},
                    "delivery": {"country": "FR", "at": "2026-11-02T15:00"},
                }
                for reference in chunk
            ],
        }
        path = folder / f"{prefix}-{start}.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        with session_scope() as session:
            import_file(path, session=session, by="benchmark")
            if generated:
                chosen = select(Order.id).where(col(Order.reference).in_(chunk))
                ids = list(session.exec(chosen).all())
                mark_generated(
                    session=session, category=Category.ORDER, entity_ids=ids, now=utcnow()
                )
    return references


def record_scans(references: list[str], kinds: tuple[str, ...], size: int) -> None:
    """A distinct scan of `size` bytes per order and kind, recorded as an upload records it."""
    store = open_document_store(get_settings())
    filler = os.urandom(size)
    for start in range(0, len(references), 500):
        with session_scope() as session:
            for reference in references[start : start + 500]:
                for kind in kinds:
                    data = b"%PDF-1.4\n" + f"{kind} {reference}\n".encode() + filler
                    record_document(
                        session=session,
                        store=store,
                        ref=EntityRef(Category.ORDER, reference),
                        doc_type=DocumentType(kind),
                        data=data,
                        filename=f"{kind}.pdf",
                        source="benchmark",
                        max_bytes=get_settings().max_document_bytes,
                        now=utcnow(),
                    )


def retro(count: int) -> dict[str, Any]:
    """`haulflow tasks run send-pod --created-before TOMORROW` over `count` older orders, as an
    operator runs it, and the raw sink rate for the same messages."""
    work = get_settings().var_dir.parent
    with sink_process(work / "sink") as relay:
        os.environ["HAULFLOW_SMTP_RELAY"] = relay
        get_settings.cache_clear()
        configure()
        references = import_orders(count, "OLD", generated=True)
        record_scans(references, ("pod", "cmr"), SCAN_BYTES)
        carrier_now = utcnow().astimezone(ZoneInfo(get_settings().timezone))
        tomorrow = (carrier_now + timedelta(days=1)).date().isoformat()
        started = time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "cli",
                "tasks",
                "run",
                "send-pod",
                "--created-before",
                tomorrow,
                "--by",
                "alice",
            ],  # fmt: skip
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        seconds = time.monotonic() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if done.returncode != 0:
            raise RuntimeError(f"tasks run failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
        sent = sorted((work / "sink").glob("*.eml"))
        if len(sent) != count:
            raise RuntimeError(f"tasks run sent {len(sent)} of {count}: {done.stdout[-2000:]}")
        sample = sent[0].read_bytes()
    raw = raw_smtp_rate(sample, work / "raw-sink", messages=min(count, 1000))
    return {
        "orders": count,
        "seconds": seconds,
        "emails_per_s": count / seconds,
        "message_bytes": len(sample),
        "raw_sink_emails_per_s": raw,
        "ratio_to_raw": count / seconds / raw,
        "peak_rss_mb": peak_mb,
        "last_line": done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "",
    }


def generation(count: int, naive: int) -> dict[str, Any]:
    """The generate-tasks flow over `count` imported orders (one task run per 500), against
    one task run per order for `naive` orders, on a Prefect server of its own."""
    from flows.generate_tasks import generate_tasks as generate_flow

    configure()
    with prefect_server(get_settings().var_dir / "prefect"):
        import_orders(count, "NEW", generated=False)
        started = time.monotonic()
        state: State[Any] = asyncio.run(
            cast(
                "Coroutine[Any, Any, State[Any]]",
                generate_flow(category=Category.ORDER, reason="benchmark", return_state=True),
            )
        )
        seconds = time.monotonic() - started
        created = state.result()["order"]["created"]
        import_orders(naive, "NAIVE", generated=False)
        started = time.monotonic()
        naive_created = naive_generation()
        naive_seconds = time.monotonic() - started
    return {
        "orders": count,
        "tasks_created": created,
        "seconds": seconds,
        "orders_per_s": count / seconds,
        "naive_orders": naive,
        "naive_tasks_created": naive_created,
        "naive_seconds": naive_seconds,
        "naive_orders_per_s": naive / naive_seconds if naive_seconds else None,
    }


ORDER_ITEM = """\
  - reference: "IMP-{number:07d}"
    customer: IMP-CUST
    customer_reference: "PO-{number:07d}"
    status: planned
    pickup: {{country: FR, at: "2026-12-01T08:00"}}
    delivery: {{country: BE, at: "2026-12-01T16:00"}}
"""


def write_import_file(path: Path, megabytes: int) -> int:
    """A file of one customer and as many orders as fit in `megabytes`; how many orders."""
    head = (
        "parties:\n  - {reference: IMP-CUST, kind: customer, name: Import Client SA, "
        "country: FR, language: fr, timezone: Europe/Paris,\n     contacts: [{email: "
        "pod@client.example, roles: [cmr-pod-processing]}]}\norders:\n"
    )
    limit, written, count = megabytes * 1_000_000, len(head), 0
    with path.open("w", encoding="utf-8") as file:
        file.write(head)
        while written + len(item := ORDER_ITEM.format(number=count)) <= limit:
            file.write(item)
            written += len(item)
            count += 1
    return count


def large_import(megabytes: int) -> dict[str, Any]:
    """`import_file` over one file of `megabytes` (the command's own step, before task
    generation), in this process, so its peak RSS is the import's."""
    configure()
    path = get_settings().var_dir / "large-import.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    orders = write_import_file(path, megabytes)
    started_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.monotonic()
    with session_scope() as session:
        report = import_file(path, session=session, by="benchmark")
    seconds = time.monotonic() - started
    return {
        "file_mb": path.stat().st_size / 1e6,
        "orders": orders,
        "orders_created": report.counts["orders"].created,
        "seconds": seconds,
        "orders_per_s": orders / seconds,
        "rss_before_mb": started_rss,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def naive_generation() -> int:
    """One task run per pending order (the naive design), in one flow run."""
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    from lifecycle.generation import generate_tasks, pending_entity_ids

    @task(name="naive-generate-one", cache_policy=NO_CACHE)
    def one(entity_id: str) -> int:
        with session_scope() as session:
            report = generate_tasks(
                session=session,
                category=Category.ORDER,
                entity_ids=[uuid.UUID(entity_id)],
                now=utcnow(),
                by="naive",
            )
        return report.created

    @flow(name="naive-generate")
    def run() -> int:
        with session_scope() as session:
            ids = pending_entity_ids(session=session, category=Category.ORDER, limit=10**9)
        return sum(one(str(entity_id)) for entity_id in ids)

    return run()


def sweep(count: int, stored: int, unrecorded: int, naive_sample: int) -> dict[str, Any]:
    """The sweep over `count` tasks waiting for their documents, `stored` of whose orders
    have a POD in the S3 store (moto's server), plus `unrecorded` objects no row knows: its
    time and its S3 requests. The naive sensor asks S3 about each awaited document of each
    waiting task (a HEAD each): its rate is measured on `naive_sample` requests."""
    import boto3
    import time_machine

    from benchmarks.stack_harness import S3_BUCKET, running_moto_s3, s3_client
    from flows.sweep import sweep as sweep_flow

    with running_moto_s3() as endpoint:
        os.environ |= {
            "HAULFLOW_DOCUMENT_STORE": "s3",
            "HAULFLOW_S3_BUCKET": S3_BUCKET,
            "HAULFLOW_S3_ENDPOINT_URL": endpoint,
            "HAULFLOW_S3_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "benchmark",
            "AWS_SECRET_ACCESS_KEY": "benchmark",
        }
        get_settings.cache_clear()
        configure()
        references = import_orders(count, "WAIT", generated=False)
        generate_pending()
        record_scans(references[:stored], ("pod",), 200)
        client = s3_client(endpoint)
        # Written under haulflow's own keys by another writer (a restore, an import tool):
        # the reconciliation's business.
        store = open_document_store(get_settings())
        for order_id in _order_ids(references[stored : stored + unrecorded]):
            data = b"%PDF-1.4\n" + f"unrecorded cmr of {order_id}\n".encode()
            digest = hashlib.sha256(data).hexdigest()
            key = document_key(order_id, DocumentType.CMR, digest, ".pdf")
            store.put(key, data, content_type="application/pdf")
        requests: list[str] = []
        session = boto3.DEFAULT_SESSION or boto3.setup_default_session() or boto3.DEFAULT_SESSION
        assert session is not None
        session.events.register(
            "before-send.s3", lambda request, **_: requests.append(request.method)
        )
        with prefect_server(get_settings().var_dir / "prefect"):
            # Three minutes on: the objects just written are past reconciliation's settle
            # window (it leaves younger ones to the next sweep).
            with time_machine.travel(datetime.now(UTC) + timedelta(minutes=3), tick=True):
                started = time.monotonic()
                state: State[Any] = asyncio.run(
                    cast("Coroutine[Any, Any, State[Any]]", sweep_flow(return_state=True))
                )
                seconds = time.monotonic() - started
        totals = state.result() if state.is_completed() else {}
        heads = 0
        started = time.monotonic()
        for reference in references[:naive_sample]:
            try:
                client.head_object(Bucket=S3_BUCKET, Key=f"inbox/order/{reference}/pod")
            except client.exceptions.ClientError:
                pass
            heads += 1
        head_seconds = (time.monotonic() - started) / max(heads, 1)
    keys = stored + unrecorded
    return {
        "waiting_tasks": count,
        "keys_in_store": keys,
        "unrecorded_objects": unrecorded,
        "seconds": seconds,
        "s3_requests": len(requests),
        "s3_requests_by_method": {m: requests.count(m) for m in sorted(set(requests))},
        "s3_requests_per_1000_keys": 1000 * len(requests) / keys if keys else None,
        "recorded": totals.get("recorded"),
        "naive_requests": 2 * count,
        "naive_seconds_estimated": 2 * count * head_seconds,
        "naive_head_ms": 1000 * head_seconds,
    }


def generate_pending() -> int:
    """Generate every pending order's tasks, 500 a transaction (what the flow does)."""
    from lifecycle.generation import generate_tasks, pending_entity_ids

    created = 0
    while True:
        with session_scope() as session:
            ids = pending_entity_ids(session=session, category=Category.ORDER, limit=500)
            if not ids:
                return created
            created += generate_tasks(
                session=session, category=Category.ORDER, entity_ids=ids, now=utcnow(), by="b"
            ).created


def _order_ids(references: list[str]) -> list[uuid.UUID]:
    with session_scope() as session:
        rows = session.exec(select(Order.id).where(col(Order.reference).in_(references)))
        return list(rows.all())


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """A Prefect server of the scenario's own, set as this process's API URL."""
    from core.prefect_runtime import prefect_connection
    from stack.prefect_server import running_prefect_server

    with running_prefect_server(home=home, port=free_port()) as server:
        os.environ["PREFECT_API_URL"] = server.api_url
        # Prefect read its settings when first imported: they must name this server now.
        with prefect_connection(server.api_url):
            yield server.api_url


def raw_smtp_rate(message: bytes, directory: Path, *, messages: int) -> float:
    """The sink's own rate for `message` on one reused connection (a sink of its own)."""
    with sink_process(directory) as address:
        host, _, port = address.rpartition(":")
        with smtplib.SMTP(host, int(port), timeout=60) as client:
            client.ehlo()
            started = time.perf_counter()
            for _ in range(messages):
                client.sendmail("raw@benchmark.example", ["raw@client.example"], message)
            return messages / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bulk")
    parser.add_argument("scenario", choices=("retro", "generation", "sweep", "import"))
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--naive", type=int, default=0, help="items for the naive design")
    parser.add_argument("--stored", type=int, default=0, help="sweep: orders with a POD")
    parser.add_argument("--unrecorded", type=int, default=0, help="sweep: objects without row")
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="haulflow-bench-") as folder,
        isolated(Path(folder), args.engine),
    ):
        if args.scenario == "retro":
            result = retro(args.count)
        elif args.scenario == "import":
            # --count is the file's size in MB; the limit is raised when the file needs it.
            limit = max(get_settings().max_import_bytes, args.count * 1_000_000)
            os.environ["HAULFLOW_MAX_IMPORT_BYTES"] = str(limit)
            get_settings.cache_clear()
            result = large_import(args.count)
        elif args.scenario == "generation":
            result = generation(args.count, args.naive)
        else:
            result = sweep(args.count, args.stored, args.unrecorded, args.naive or 200)
    print(json.dumps({"scenario": args.scenario, "engine": args.engine, **result}))  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
