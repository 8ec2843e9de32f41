"""What the latency benchmarks run on: moto's S3 server, the orders, the sink's mail.

The stack itself is `haulflow demo`'s (`stack.demo_stack.running_demo_stack`: migrate, sink,
Prefect server, `haulflow serve`, every deployment READY), in a scenario's own folder and
database (`benchmarks.environment`), so a benchmark never touches the user's data.
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import yaml

from core.database import session_scope
from ingestion.importer import import_file
from models.configuration import load_configuration
from models.configuration.store import apply_configuration, file_sha256
from stack.demo_data import generate_pending_tasks

BY = "benchmark"
S3_BUCKET = "haulflow-benchmark"
S3_REGION = "eu-west-1"
# The automatic POD/CMR task; the mailbox's server is irrelevant (all goes to the relay).
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


@contextmanager
def running_moto_s3() -> Iterator[str]:
    """moto's S3 server on a free local port, with the benchmark's bucket; its endpoint URL."""
    from moto.server import ThreadedMotoServer

    # Its HTTP server logs every request at INFO: thousands of lines for the listing.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        # moto keeps its buckets in the process, across servers: start from none.
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
        client = s3_client(endpoint)
        client.create_bucket(
            Bucket=S3_BUCKET, CreateBucketConfiguration={"LocationConstraint": S3_REGION}
        )
        yield endpoint
    finally:
        server.stop()


def s3_client(endpoint: str) -> Any:
    """A boto3 S3 client for moto's server (credentials are moto's: anything goes)."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=S3_REGION,
        aws_access_key_id="benchmark",
        aws_secret_access_key="benchmark",
    )


def prepare_orders(count: int, directory: Path) -> list[str]:
    """Apply the configuration, import `count` orders of one customer, generate their tasks."""
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "benchmark-tasks.yaml"
    config_path.write_text(CONFIG, encoding="utf-8")
    run = uuid.uuid4().hex[:6].upper()
    references = [f"BENCH-{run}-{number:04d}" for number in range(1, count + 1)]
    entities = {
        "parties": [
            {
                "reference": f"BENCH-{run}",
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
                "customer": f"BENCH-{run}",
                "status": "planned",
                "pickup": {"country": "FR", "at": "2026-12-01T08:00"},
                "delivery": {"country": "BE", "at": "2026-12-01T16:00"},
                "amount": "100.00",
                "currency": "EUR",
            }
            for reference in references
        ],
    }
    entities_path = directory / "benchmark-entities.yaml"
    entities_path.write_text(yaml.safe_dump(entities, sort_keys=False), encoding="utf-8")
    with session_scope() as session:
        apply_configuration(
            session=session,
            configuration=load_configuration(config_path),
            source_name=config_path.name,
            source_sha256=file_sha256(config_path),
            by=BY,
        )
    with session_scope() as session:
        import_file(entities_path, session=session, by=BY)
    created = generate_pending_tasks(by=BY)
    if created != count:
        raise RuntimeError(f"expected {count} send-pod tasks, generation created {created}")
    return references


@dataclass(frozen=True)
class SinkMail:
    """One message the sink accepted: when, how big, which file."""

    received_at: datetime
    size: int
    path: Path


class MailWatcher:
    """Finds the sink's messages by the order reference in their Subject."""

    def __init__(self, directory: Path, reference_pattern: str) -> None:
        self.directory = directory
        self.pattern = re.compile(reference_pattern)
        self.seen: set[Path] = set()
        self.found: dict[str, list[SinkMail]] = {}

    def poll(self) -> None:
        """Read every `.eml` not seen yet (the sink renames its `.json` into place first)."""
        for path in sorted(self.directory.glob("*.eml")):
            if path in self.seen:
                continue
            self.seen.add(path)
            with path.open("rb") as file:
                headers = BytesHeaderParser(policy=default_policy).parse(file)
            envelope = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
            match = self.pattern.search(str(headers.get("Subject", "")))
            if match:
                mail = SinkMail(
                    datetime.fromisoformat(envelope["received_at"]), envelope["size"], path
                )
                self.found.setdefault(match.group(0), []).append(mail)

    def wait_for(self, reference: str, timeout: float) -> SinkMail | None:
        """The first message about `reference`, waiting up to `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            if mails := self.found.get(reference):
                return mails[0]
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)
