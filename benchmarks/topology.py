"""The production topology on one machine: one worker against two on the same backlog.

A Prefect server on PostgreSQL with Redis as its messaging broker (`prefect-redis`), a
process work pool filled by `prefect deploy --all` from `prefect.yaml`, `prefect worker`
processes, haulflow's own database on PostgreSQL, and an SMTP server that takes
`accept_seconds` per message (as a real relay does), in a process of its own.

Each worker runs one flow run at a time (`--limit 1`), so each of the `HAULFLOW_DISPATCHERS`
dispatchers lands on a worker of its own. A backlog of ready e-mail tasks is created while
no dispatcher runs; then the dispatchers start and the drain is timed from the first e-mail
the server accepted to the last: dispatcher start-up is not counted, only sending.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import yaml

from benchmarks.environment import free_port, fresh_database, sink_process, wait_for
from core.database import engine_for, session_scope, upgrade_database
from core.prefect_runtime import prefect_connection
from core.settings import get_settings
from core.sourcefile import parse_source
from ingestion.importer import import_file
from lifecycle.generation import generate_tasks, pending_entity_ids
from models import Category
from models.configuration import validate_source
from models.configuration.store import apply_configuration
from stack.prefect_server import running_prefect_server

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

REPO = Path(__file__).resolve().parent.parent
POOL = "haulflow"
DISPATCHER = "dispatcher/send-ready-emails"
# An e-mail task ready as soon as its order exists: a backlog costs one import.
CONFIG = """\
schema_version: 1
carrier: {name: Transports Topology}
fallback_role: operations
mailboxes:
  - key: notices
    from: "Transports Topology <notices@topology.example>"
    smtp: {host: 127.0.0.1, port: 25, security: plain}
tasks:
  orders:
    - key: order-notice
      name: Order notice
      execution: automatic
      intended_for: {roles: [operations]}
      mailbox: notices
      email:
        default_language: en
        languages:
          en:
            subject: "Order {{ order.reference }} registered"
            text: "Your order {{ order.reference }} is registered."
"""


@dataclass(frozen=True)
class Drain:
    """How one set of dispatchers drained its backlog."""

    dispatchers: int
    emails: int
    seconds: float
    duplicates: int
    missing: int

    @property
    def per_second(self) -> float:
        return (self.emails - 1) / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Topology:
    """A running production topology: where its parts are."""

    api_url: str
    database_url: str
    sink_dir: Path
    sink_address: str
    work: Path
    stack: ExitStack
    workers: list[subprocess.Popen[bytes]]

    def environment(self) -> dict[str, str]:
        """The environment of `prefect` commands and workers: this server, this database."""
        return os.environ | {
            "PREFECT_API_URL": self.api_url,
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "HAULFLOW_DATABASE_URL": self.database_url,
            "HAULFLOW_SMTP_RELAY": self.sink_address,
            "HAULFLOW_VAR_DIR": str(self.work / "var"),
            "HAULFLOW_SWEEP_INTERVAL_SECONDS": "3600",
        }

    def prefect(self, *args: str) -> str:
        """The stock `prefect` CLI, from the repository (where `prefect.yaml` is)."""
        process = subprocess.run(
            [sys.executable, "-m", "prefect", *args],
            cwd=REPO,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if process.returncode != 0:
            raise RuntimeError(f"prefect {' '.join(args)}: {process.stdout}{process.stderr}")
        return process.stdout

    def start_worker(self) -> None:
        """One more `prefect worker start --pool haulflow --limit 1`."""
        number = len(self.workers) + 1
        log = (self.work / f"worker-{number}.log").open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prefect",
                "worker",
                "start",
                "--pool",
                POOL,
                "--limit",
                "1",
                "--name",
                f"worker-{number}",
            ],  # fmt: skip
            cwd=self.work,
            env=self.environment(),
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        self.workers.append(process)
        self.stack.callback(_stop, process, log)
        wait_for(
            lambda: b"started" in (self.work / f"worker-{number}.log").read_bytes(), 90, "a worker"
        )


@contextmanager
def running_topology(
    work: Path, *, postgresql: str, redis_url: str, accept_seconds: float
) -> Iterator[Topology]:
    """Start the topology under `work` (fresh databases on `postgresql`); stop it at exit."""
    work.mkdir(parents=True, exist_ok=True)
    saved = dict(os.environ)
    with ExitStack() as stack:
        stack.callback(_restore_environment, saved)
        prefect_db = stack.enter_context(fresh_database(postgresql, "prefect_topology"))
        haulflow_db = stack.enter_context(fresh_database(postgresql, "haulflow_topology"))
        _flush_redis(redis_url)
        stack.callback(_flush_redis, redis_url)
        env = {
            "PREFECT_API_DATABASE_CONNECTION_URL": prefect_db.replace(
                "postgresql+psycopg://", "postgresql+asyncpg://"
            ),
            "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
            "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
            "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
            "PREFECT_REDIS_MESSAGING_URL": redis_url,
        }
        server = stack.enter_context(
            running_prefect_server(
                home=work / "prefect", port=free_port(), log_level="INFO", extra_env=env
            )
        )
        sink_dir = work / "sink"
        sink_address = stack.enter_context(sink_process(sink_dir, accept_seconds=accept_seconds))
        topology = Topology(server.api_url, haulflow_db, sink_dir, sink_address, work, stack, [])
        os.environ["HAULFLOW_DATABASE_URL"] = haulflow_db
        os.environ["HAULFLOW_VAR_DIR"] = str(work / "var")
        get_settings.cache_clear()
        upgrade_database(engine_for(haulflow_db))
        _configure()
        topology.prefect("work-pool", "create", POOL, "--type", "process")
        topology.prefect("--no-prompt", "deploy", "--all")
        os.environ["PREFECT_API_URL"] = server.api_url
        # Prefect read its settings when first imported: they must name this server now.
        stack.enter_context(prefect_connection(server.api_url))
        _pause("sweep/backstop")  # it would start dispatchers of its own; they start here
        yield topology


def make_backlog(count: int, prefix: str) -> list[str]:
    """`count` orders whose notice is ready at once (no dispatcher running): references."""
    references = [f"{prefix}-{number:05d}" for number in range(count)]
    document = {
        "parties": [
            {
                "reference": f"{prefix}-CUST",
                "kind": "customer",
                "name": "Topology Customer",
                "country": "FR",
                "language": "en",
                "timezone": "Europe/Paris",
                "contacts": [
                    {"email": "ops@customer.example", "name": "Ops", "roles": ["operations"]}
                ],
            }
        ],
        "orders": [
            {
                "reference": reference,
                "customer": f"{prefix}-CUST",
                "status": "planned",
                "pickup": {"country": "FR", "at": "2026-11-02T08:00"},
                "delivery": {"country": "FR", "at": "2026-11-02T15:00"},
            }
            for reference in references
        ],
    }
    path = get_settings().var_dir / f"{prefix}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    with session_scope() as session:
        import_file(path, session=session, by="benchmark")
    while True:
        with session_scope() as session:
            ids = pending_entity_ids(session=session, category=Category.ORDER, limit=500)
            if not ids:
                return references
            generate_tasks(
                session=session,
                category=Category.ORDER,
                entity_ids=ids,
                now=datetime.now(UTC),
                by="benchmark",
            )


def drain(topology: Topology, references: list[str], dispatchers: int, timeout: float) -> Drain:
    """Start `dispatchers` dispatcher runs, time the backlog's e-mails, then stop them."""
    from prefect.deployments import run_deployment

    runs = [
        cast(
            "FlowRun",
            run_deployment(
                DISPATCHER, parameters={"replicas": dispatchers}, timeout=0, as_subflow=False
            ),
        ).id
        for _ in range(dispatchers)
    ]
    wanted = set(references)
    deadline = time.monotonic() + timeout
    while True:
        received = _received(topology.sink_dir, prefix=references[0].rsplit("-", 1)[0])
        if wanted <= {reference for reference, _ in received} or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    _cancel(topology, runs)
    times = sorted(moment for reference, moment in received if reference in wanted)
    counted = [reference for reference, _ in received if reference in wanted]
    return Drain(
        dispatchers=dispatchers,
        emails=len(set(counted)),
        seconds=(times[-1] - times[0]).total_seconds() if len(times) > 1 else 0.0,
        duplicates=len(counted) - len(set(counted)),
        missing=len(wanted - set(counted)),
    )


def _received(sink_dir: Path, *, prefix: str) -> list[tuple[str, datetime]]:
    """(order reference, when accepted) of each message in the sink about `prefix` orders."""
    found = []
    parser = BytesHeaderParser(policy=default_policy)
    for envelope_path in sink_dir.glob("*.json"):
        envelope = json.loads(envelope_path.read_text(encoding="utf-8"))
        message = sink_dir / envelope["message_file"]
        if not message.is_file():
            continue
        subject = str(parser.parsebytes(message.read_bytes())["Subject"])
        reference = subject.split()[1] if subject.startswith("Order ") else ""
        if reference.startswith(prefix):
            found.append((reference, datetime.fromisoformat(envelope["received_at"])))
    return found


def _cancel(topology: Topology, runs: list[uuid.UUID]) -> None:
    """Cancel the dispatcher runs and wait until they are over (their leases gone)."""
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelling

    with get_client(sync_client=True) as client:
        for run in runs:
            client.set_flow_run_state(run, Cancelling(), force=True)
        wait_for(
            lambda: all(_final(client.read_flow_run(run)) for run in runs), 120, "the runs' end"
        )


def _pause(deployment: str) -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.pause_deployment(client.read_deployment_by_name(deployment).id)


def _final(run: Any) -> bool:
    return run.state is not None and run.state.is_final()


def _configure() -> None:
    source = parse_source(CONFIG, file="topology.yaml")
    configuration, problems = validate_source(source, base_dir=REPO)
    if configuration is None:
        raise RuntimeError(f"the topology's configuration is invalid: {problems}")
    with session_scope() as session:
        apply_configuration(
            session=session,
            configuration=configuration,
            source_name="topology.yaml",
            source_sha256="-",
            by="benchmark",
        )


def _restore_environment(saved: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


def _flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def _stop(process: subprocess.Popen[bytes], log: Any) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    log.close()
