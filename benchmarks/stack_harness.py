"""What the latency benchmark runs on: a throw-away var folder, its orders, the sink's mail.

The stack itself is `haulflow demo`'s (`stack.demo_stack.running_demo_stack`: migrate, sink,
Prefect server, `haulflow serve`, every deployment READY); this module only points it at a
temporary folder instead of `var/demo-run/`, so a benchmark never touches the user's data.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
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
from sqlmodel import col, select

from core.database import session_scope
from core.settings import get_settings
from ingestion.importer import import_file
from models import Communication, Order
from models.configuration import load_configuration
from models.configuration.store import apply_configuration, file_sha256
from stack.demo_data import generate_pending_tasks
from stack.demo_stack import free_port

BY = "benchmark"
S3_BUCKET = "haulflow-benchmark"
S3_REGION = "eu-west-1"
# The seed's automatic POD/CMR row; the mailbox's server is irrelevant (all goes to the relay).
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
def isolated_environment(var_dir: Path, *, s3_endpoint: str | None) -> Iterator[None]:
    """Point this process (and the `serve` it starts) at `var_dir`, its SQLite file, free ports."""
    saved = dict(os.environ)
    for name in ("HAULFLOW_DATABASE_URL", "HAULFLOW_DOCUMENTS_DIR", "HAULFLOW_MAILSINK_DIR"):
        os.environ.pop(name, None)
    os.environ.pop("PREFECT_API_URL", None)
    os.environ |= {
        "HAULFLOW_VAR_DIR": str(var_dir),
        "HAULFLOW_SMTP_SINK_PORT": str(free_port()),
        "HAULFLOW_PREFECT_PORT": str(free_port()),
        # This process emits the upload events: its Prefect client files stay in the folder too.
        "PREFECT_HOME": str(var_dir / "prefect-client"),
        "HAULFLOW_DOCUMENT_STORE": "s3" if s3_endpoint else "folder",
    }
    if s3_endpoint:
        os.environ |= {
            "HAULFLOW_S3_BUCKET": S3_BUCKET,
            "HAULFLOW_S3_PREFIX": "",
            "HAULFLOW_S3_ENDPOINT_URL": s3_endpoint,
            "HAULFLOW_S3_REGION": S3_REGION,
            "AWS_ACCESS_KEY_ID": "benchmark",
            "AWS_SECRET_ACCESS_KEY": "benchmark",
            "AWS_DEFAULT_REGION": S3_REGION,
        }
    get_settings.cache_clear()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


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


# `haulflow serve` with `prefect.serve` replaced: it reports the poll interval of the Runner
# it would have built, in the settings in effect at that point, and exits.
_POLL_PROBE = """
import sys
import prefect
from prefect.runner import Runner

def probe(*deployments, limit=None, **kwargs):
    print("runner-poll", Runner(limit=limit, **kwargs).query_seconds)

prefect.serve = probe
sys.argv = ["haulflow", "serve"]
from cli.main import main
main()
"""


def probe_runner_poll(env: dict[str, str]) -> float:
    """The runner poll interval `haulflow serve` ends up with in `env`, not the one it asks for."""
    done = subprocess.run(
        [sys.executable, "-c", _POLL_PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    for line in done.stdout.splitlines():
        if line.startswith("runner-poll "):
            return float(line.split()[1])
    raise RuntimeError(f"the runner poll probe failed:\n{done.stdout}{done.stderr}")


@dataclass(frozen=True)
class RunRecord:
    """A flow run as the Prefect server saw it."""

    name: str
    state: str
    created: datetime
    started: datetime | None
    ended: datetime | None


def read_flow_runs(api_url: str) -> dict[uuid.UUID, RunRecord]:
    """Every flow run of the benchmark's Prefect server, by id."""
    from prefect.client.orchestration import get_client

    from core.prefect_runtime import prefect_connection

    runs: list[Any] = []
    with prefect_connection(api_url), get_client(sync_client=True) as client:
        # The server returns at most 200 per request.
        while page := client.read_flow_runs(limit=200, offset=len(runs)):
            runs += page
    return {
        run.id: RunRecord(
            run.name, run.state_name or "?", run.created, run.start_time, run.end_time
        )
        for run in runs
        if run.created is not None
    }


def sending_run_ids(references: list[str]) -> dict[str, uuid.UUID]:
    """For each reference, the flow run whose communication sent its e-mail."""
    with session_scope() as session:
        rows = session.exec(
            select(Order.reference, Communication.flow_run_id)
            .join(Communication, col(Communication.entity_id) == col(Order.id))
            .where(col(Order.reference).in_(references))
        ).all()
    return {reference: run_id for reference, run_id in rows if run_id is not None}


def describe_sender(reference: str, run_name: str | None) -> str:
    """Which wake-up sent an e-mail: its own order's upload event, another's, or the sweep."""
    if run_name is None:
        return "no e-mail"
    if reference in run_name:
        return "own order's event"
    if "uploaded" in run_name:
        return "earlier order's event"
    return "sweep" if "sweep" in run_name else run_name
