"""Every measurement of `python -m benchmarks`, in one run, and the targets they are held to.

Each scenario runs in its own folder and database (`benchmarks.environment`); bulk ones in
a process of their own (`benchmarks.bulk`), so their peak memory is theirs. Profiles: `full`
(the sizes the targets name) and `ci` (reduced; the CI test holds ratios to floors).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.environment import REPO, background, isolated, postgresql_server, wait_for
from benchmarks.raw_limits import measure_db_inserts, measure_listing, measure_smtp_100kb

Log = Callable[[str], None]


@dataclass(frozen=True)
class Profile:
    """How big each scenario is."""

    name: str
    steady_orders: int
    steady_gap: float
    naive_steady_orders: int
    burst_orders: int
    naive_burst_orders: int
    uploaders: int
    retro_orders: int
    sweep_tasks: int
    sweep_stored: int
    sweep_unrecorded: int
    generation_orders: int
    naive_generation_orders: int
    backlog: int
    import_megabytes: int


PROFILES = {
    "full": Profile(
        "full", 20, 2.0, 10, 1000, 200, 4, 10_000, 100_000, 10_000, 100, 10_000, 1_000, 2_000, 50
    ),  # fmt: skip
    "ci": Profile("ci", 5, 1.0, 3, 100, 20, 4, 300, 5_000, 1_000, 20, 1_000, 200, 400, 10),
}


def run(profile: Profile, work: Path, log: Log, only: set[str] | None = None) -> dict[str, Any]:
    """Every scenario of `profile` (or those in `only`); the report's data."""
    engines = ["sqlite"] + (["postgresql"] if postgresql_server() else [])
    result: dict[str, Any] = {
        "profile": profile.name,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "system": platform.platform(),
        },
        "engines": engines,
    }
    scenarios: list[tuple[str, Callable[[], Any]]] = [
        ("raw", lambda: raw(work / "raw", engines)),
        ("steady", lambda: {e: steady(work / f"steady-{e}", e, profile, log) for e in engines}),
        ("naive_steady", lambda: naive_steady(work / "naive-steady", profile, log)),
        ("listen", lambda: listen(work / "listen", profile, log)),
        ("burst", lambda: {e: burst(work / f"burst-{e}", e, profile, log) for e in engines}),
        ("naive_burst", lambda: naive_burst(work / "naive-burst", profile, log)),
        ("retro", lambda: {e: bulk("retro", e, count=profile.retro_orders) for e in engines}),
        (
            "sweep",
            lambda: bulk(
                "sweep",
                "sqlite",
                count=profile.sweep_tasks,
                stored=profile.sweep_stored,
                unrecorded=profile.sweep_unrecorded,
                naive=200,
            ),
        ),  # fmt: skip
        (
            "generation",
            lambda: {
                e: bulk(
                    "generation",
                    e,
                    count=profile.generation_orders,
                    naive=profile.naive_generation_orders,
                )
                for e in engines
            },
        ),  # fmt: skip
        ("workers", lambda: workers(work / "workers", profile)),
        ("import", lambda: {e: bulk("import", e, count=profile.import_megabytes) for e in engines}),
    ]
    for name, scenario in scenarios:
        if only and name not in only:
            continue
        log(f"{name}…")
        started = time.monotonic()
        try:
            result[name] = scenario()
        except Exception as error:  # one scenario's failure is reported, the rest still run
            result[name] = {"error": f"{type(error).__name__}: {error}"}
        log(f"{name}: {time.monotonic() - started:.0f} s")
    result["targets"] = targets(result)
    return result


def raw(work: Path, engines: list[str]) -> dict[str, Any]:
    """The raw limits of this machine, measured now."""
    from benchmarks.stack_harness import running_moto_s3

    smtp = measure_smtp_100kb(work / "sink")
    with running_moto_s3() as endpoint, isolated(work / "listing", "sqlite"):
        listing = measure_listing("s3", work, s3_endpoint=endpoint, keys=5000)
    return {
        "smtp_100kb_messages_per_s": smtp.per_second,
        "smtp_100kb_message_bytes": smtp.message_bytes,
        "s3_list_keys_per_s": listing.raw_keys_per_second,
        "db_insert_rows_per_s": {e: measure_db_inserts(work / f"db-{e}", e) for e in engines},
    }


@contextmanager
def haulflow_stack(work: Path, engine: str) -> Iterator[Any]:
    """`haulflow serve` and its dispatcher, a Prefect server, the sink: the served design."""
    from core.prefect_runtime import prefect_connection
    from stack.demo_stack import running_demo_stack

    with isolated(work, engine), running_demo_stack() as stack:  # type: ignore[arg-type]
        # Prefect read its settings when first imported: they must name this stack's server.
        with prefect_connection(stack.server.api_url):
            yield stack


def steady(work: Path, engine: str, profile: Profile, log: Log) -> dict[str, Any]:
    from benchmarks.served import cli_upload, upload
    from benchmarks.served import steady as measure
    from core.settings import get_settings
    from storage.factory import open_document_store

    with haulflow_stack(work, engine) as stack:
        store = open_document_store(get_settings())
        in_process = measure(
            stack.sink.directory,
            profile.steady_orders,
            profile.steady_gap,
            way="in process (record, then commit)",
            upload_cmr=lambda reference: upload(store, reference, "cmr"),
        )
        walls: list[float] = []
        cli = measure(
            stack.sink.directory,
            profile.steady_orders,
            profile.steady_gap,
            way="`haulflow documents upload` (process start included)",
            upload_cmr=lambda reference: walls.append(cli_upload(reference)),
        )
        cli["upload_command_wall_s"] = {
            "median": sorted(walls)[len(walls) // 2] if walls else None,
            "max": max(walls, default=None),
        }
    log(f"  {engine}: p50 {in_process['p50_s']} s in process, {cli['p50_s']} s via the CLI")
    return {"in_process": in_process, "cli": cli}


@contextmanager
def naive_stack(work: Path) -> Iterator[Any]:
    """The naive design served instead of haulflow's: a Prefect server, the sink, the
    per-event deployment of `benchmarks.naive`."""
    from core.database import get_engine, upgrade_database
    from core.prefect_runtime import prefect_connection
    from core.settings import get_settings
    from mail.sink import running_mail_sink
    from stack.prefect_server import running_prefect_server

    with isolated(work, "sqlite"), ExitStack() as stack:
        settings = get_settings()
        upgrade_database(get_engine())
        sink = stack.enter_context(
            running_mail_sink(settings.resolved_mailsink_dir, settings.smtp_sink_port)
        )
        server = stack.enter_context(
            running_prefect_server(home=settings.var_dir / "prefect", port=settings.prefect_port)
        )
        os.environ["PREFECT_API_URL"] = server.api_url
        os.environ["HAULFLOW_SMTP_RELAY"] = sink.address
        stack.enter_context(prefect_connection(server.api_url))
        env = dict(os.environ)
        stack.enter_context(
            background(
                [sys.executable, "-m", "benchmarks.naive", "serve"], work / "naive.log", env=env
            )  # fmt: skip
        )
        wait_for(lambda: "being served" in (work / "naive.log").read_text(errors="ignore"), 120,
                 "the naive deployment")  # fmt: skip
        yield sink


def naive_steady(work: Path, profile: Profile, log: Log) -> dict[str, Any]:
    from benchmarks.naive import announce
    from benchmarks.served import steady as measure
    from benchmarks.served import upload
    from core.settings import get_settings
    from storage.factory import open_document_store

    with naive_stack(work) as sink:
        store = open_document_store(get_settings())

        result = measure(
            sink.directory,
            profile.naive_steady_orders,
            profile.steady_gap,
            way="naive: one flow run per upload event",
            upload_cmr=lambda reference: upload(store, reference, "cmr"),
            announce=announce,
        )
    log(f"  naive: p50 {result['p50_s']} s")
    return result


def listen(work: Path, profile: Profile, log: Log) -> dict[str, Any]:
    """Drops in the bucket announced by S3 → SQS to `haulflow listen` (moto's server)."""
    import boto3

    from benchmarks.served import listen_way
    from benchmarks.stack_harness import S3_BUCKET, S3_REGION, running_moto_s3
    from core.prefect_runtime import prefect_connection
    from stack.demo_stack import running_demo_stack

    with running_moto_s3() as endpoint:
        sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=S3_REGION,
                           aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip
        queue = sqs.create_queue(QueueName="haulflow-benchmark")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name=S3_REGION,
                          aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip
        s3.put_bucket_notification_configuration(
            Bucket=S3_BUCKET,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {"QueueArn": arn["Attributes"]["QueueArn"], "Events": ["s3:ObjectCreated:*"]}
                ]
            },
        )
        with isolated(work, "sqlite"):
            os.environ |= {
                "HAULFLOW_DOCUMENT_STORE": "s3",
                "HAULFLOW_S3_BUCKET": S3_BUCKET,
                "HAULFLOW_S3_ENDPOINT_URL": endpoint,
                "HAULFLOW_S3_REGION": S3_REGION,
                "HAULFLOW_SQS_QUEUE_URL": queue,
                "HAULFLOW_SQS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "benchmark",
                "AWS_SECRET_ACCESS_KEY": "benchmark",
            }
            from core.settings import get_settings

            get_settings.cache_clear()
            with running_demo_stack() as stack, prefect_connection(stack.server.api_url):
                result = listen_way(
                    stack.sink.directory, profile.steady_orders, profile.steady_gap, work
                )
    log(f"  via S3 → SQS → listen: p50 {result['p50_s']} s")
    return result


def burst(work: Path, engine: str, profile: Profile, log: Log) -> dict[str, Any]:
    from benchmarks.served import burst as measure

    with haulflow_stack(work, engine) as stack:
        result = measure(
            stack.sink.directory,
            profile.burst_orders,
            profile.uploaders,
            stack.var_dir / "logs" / "prefect-server.log",
        )
    log(
        f"  {engine}: {result['intake_documents_per_s']:.0f} documents/s recorded, last e-mail "
        f"{result['last_email_after_last_upload_s']} s after the last upload"
    )
    return result


def naive_burst(work: Path, profile: Profile, log: Log) -> dict[str, Any]:
    from benchmarks.naive import announce
    from benchmarks.served import burst as measure
    from core.settings import get_settings

    with naive_stack(work) as sink:
        result = measure(
            sink.directory,
            profile.naive_burst_orders,
            profile.uploaders,
            get_settings().var_dir / "prefect" / "server.log",
            announce=announce,
        )
    log(f"  naive: last e-mail {result['last_email_after_last_upload_s']} s after the last upload")
    return result


def bulk(scenario: str, engine: str, **options: int) -> dict[str, Any]:
    """`python -m benchmarks.bulk SCENARIO ...` in a process of its own; its JSON."""
    arguments = [f"--{name}={value}" for name, value in options.items()]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bulk", scenario, f"--engine={engine}", *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=7200,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{scenario}: {done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def workers(work: Path, profile: Profile) -> dict[str, Any]:
    """One worker against two on the production topology (`benchmarks.topology`)."""
    from benchmarks.topology import drain, make_backlog, running_topology

    server = postgresql_server()
    if server is None:
        return {"error": "no PostgreSQL server: the production topology needs one"}
    with running_topology(
        work, postgresql=server, redis_url="redis://127.0.0.1:6379/7", accept_seconds=0.05
    ) as topology:
        topology.start_worker()
        one = drain(topology, make_backlog(profile.backlog, "ONE"), dispatchers=1, timeout=900)
        topology.start_worker()
        two = drain(topology, make_backlog(profile.backlog, "TWO"), dispatchers=2, timeout=900)
    return {
        "backlog": profile.backlog,
        "smtp_accept_s": 0.05,
        "one_worker_emails_per_s": one.per_second,
        "two_workers_emails_per_s": two.per_second,
        "speedup": two.per_second / one.per_second if one.per_second else None,
        "missing": one.missing + two.missing,
        "duplicates": one.duplicates + two.duplicates,
    }


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the brief: the figure measured, the limit, met or not."""
    rows: list[dict[str, Any]] = []

    def add(name: str, value: Any, limit: str, met: bool | None) -> None:
        rows.append({"target": name, "measured": value, "limit": limit, "met": met})

    def get(*path: str) -> Any:
        node: Any = result
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node

    for engine in result.get("engines", []):
        p50, p99 = (
            get("steady", engine, "in_process", "p50_s"),
            get("steady", engine, "in_process", "p99_s"),
        )
        add(f"upload → SMTP p50 ({engine})", p50, "≤ 1 s", _le(p50, 1.0))
        add(f"upload → SMTP p99 ({engine})", p99, "≤ 3 s", _le(p99, 3.0))
        swept = get("steady", engine, "in_process", "sent_by_sweep")
        add(f"e-mails sent by the sweep ({engine})", swept, "0", _le(swept, 0))
        intake = get("burst", engine, "intake_documents_per_s")
        add(f"intake, concurrent uploaders ({engine})", intake, "≥ 200 documents/s",
            None if intake is None else intake >= 200)  # fmt: skip
        last = get("burst", engine, "last_email_after_last_upload_s")
        add(f"burst: last e-mail after the last upload ({engine})", last, "≤ 30 s", _le(last, 30))
        lost = [get("burst", engine, key) for key in ("missing", "duplicates", "sent_by_sweep")]
        add(f"burst: lost, duplicated, left to the sweep ({engine})", lost, "0, 0, 0",
            None if None in lost else not any(lost))  # fmt: skip
        ratio = get("retro", engine, "ratio_to_raw")
        add(f"retroactive run: rate ÷ raw sink rate ({engine})", ratio, "≥ 0.5",
            None if ratio is None else ratio >= 0.5)  # fmt: skip
        rss = get("retro", engine, "peak_rss_mb")
        add(f"retroactive run: peak RSS MB ({engine})", rss, "≤ 300", _le(rss, 300))
    sweep_s = get("sweep", "seconds")
    add("sweep over the waiting tasks", sweep_s, "≤ 30 s", _le(sweep_s, 30))
    requests, keys = get("sweep", "s3_requests"), get("sweep", "keys_in_store")
    unrecorded = get("sweep", "unrecorded_objects") or 0
    expected = None if keys is None else -(-keys // 1000) + unrecorded
    add("sweep: S3 requests", requests, f"≈ keys / 1,000 + 1 GET per unrecorded ({expected})",
        None if requests is None or expected is None else requests <= expected + 1)  # fmt: skip
    for engine in result.get("engines", []):
        wall = get("steady", engine, "cli", "upload_command_wall_s", "median")
        add(f"`documents upload` wall time (median, {engine})", wall, "≤ 1 s", _le(wall, 1.0))
    for engine in result.get("engines", []):
        megabytes, rss = get("import", engine, "file_mb"), get("import", engine, "peak_rss_mb")
        size = "?" if megabytes is None else f"{megabytes:.0f}"
        add(f"import of a {size} MB file: peak RSS MB ({engine})", rss,
            "≤ 512 (well under 1 GB) for 50 MB", _le(rss, 512))  # fmt: skip
    speedup = get("workers", "speedup")
    add("two workers ÷ one worker", speedup, "≥ 1.6", None if speedup is None else speedup >= 1.6)
    return rows


def _le(value: Any, limit: float) -> bool | None:
    return None if value is None else float(value) <= limit
