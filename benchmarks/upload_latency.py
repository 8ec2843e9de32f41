"""Upload → SMTP-accept latency of the served stack, against the raw limits of the same run.

    .venv/bin/python -m benchmarks.upload_latency [--uploads 20] [--store folder|s3] [--json]

In a temporary var folder (its own SQLite file, free ports): the mail sink, a Prefect server
and `haulflow serve`, as `haulflow up` starts them. One automatic `send-pod` task per order
needs a POD and a CMR. Per order, the POD is uploaded, then the CMR, as `haulflow documents
upload` does it in process; the clock starts right before the CMR is recorded (the upload
that makes the e-mail due) and stops at the sink's `received_at` for that order's e-mail.
The CMR follows its POD by `--gap` seconds, and the next POD follows the e-mail by as much
(with `--burst`, nothing waits for the e-mails). Then, the stack stopped, in the same run:
the sink's raw rate on one reused connection with the same message bytes, and the listing
of a store holding `--listing-keys` documents: raw, through the store, and through the
sweep's reconciliation. `--json` prints every figure, with the timeline of uploads, e-mails
and flow runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks.latency_report import Run, Sample, build_result, print_table
from benchmarks.raw_limits import measure_listing, measure_smtp
from benchmarks.stack_harness import (
    MailWatcher,
    isolated_environment,
    prepare_orders,
    probe_runner_poll,
    read_flow_runs,
    running_moto_s3,
    sending_run_ids,
)
from core.database import require_current_schema, session_scope
from core.settings import get_settings
from ingestion.intake import record_and_open_gates
from lifecycle.entities import parse_entity_ref
from models import DocumentType, utcnow
from stack.demo_data import minimal_pdf
from stack.processes import StopSignal, signals_ignored, stop_signals_raise
from stack.up import serve_environment
from storage.base import DocumentStore
from storage.factory import open_document_store


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console(stderr=args.json)
    var_dir = Path(tempfile.mkdtemp(prefix="haulflow-benchmark-"))
    stack = ExitStack()
    # Registered first, so it runs last: after every process is stopped.
    stack.callback(_remove, var_dir, keep=args.keep, console=console)
    with stop_signals_raise():
        try:
            result = _run(args, var_dir, stack, console)
        except (KeyboardInterrupt, StopSignal):
            console.print("interrupted")
            return 130
        finally:
            # A second Ctrl-C must not cut the stopping short: each stop step has its timeout.
            with signals_ignored():
                stack.close()
    if args.json:
        console.file.flush()
        Console().print_json(json.dumps(result))
    else:
        print_table(result, console)
    return 0 if result["missing"] == 0 else 1


def _run(
    args: argparse.Namespace, var_dir: Path, stack: ExitStack, console: Console
) -> dict[str, Any]:
    from stack.demo_stack import running_demo_stack

    s3_endpoint = stack.enter_context(running_moto_s3()) if args.store == "s3" else None
    stack.enter_context(isolated_environment(var_dir, s3_endpoint=s3_endpoint))
    if args.runner_poll is not None:
        # Inherited by `haulflow serve` (the environment is restored at the end).
        os.environ["PREFECT_RUNNER_POLL_FREQUENCY"] = f"{args.runner_poll:g}"
    console.print(f"starting the stack in {var_dir} ({args.store} store)…")
    started = time.monotonic()
    # Its own exit stack, closed before the raw limits are measured: they get a quiet machine.
    served = stack.enter_context(ExitStack())
    demo = served.enter_context(running_demo_stack())
    console.print(f"stack ready in {time.monotonic() - started:.0f} s; preparing orders…")
    references = prepare_orders(args.uploads, var_dir / "input")
    store = open_document_store(get_settings())
    watcher = MailWatcher(demo.sink.directory, r"BENCH-[0-9A-F]{6}-\d{4}")
    samples = _upload_all(references, store, watcher, args, console)
    for sample in samples:
        sample.mail = sample.mail or watcher.wait_for(sample.reference, args.timeout)
    runner_poll = probe_runner_poll(serve_environment(demo.server, demo.sink, get_settings()))
    flow_runs = read_flow_runs(demo.server.api_url)
    console.print("stopping the stack, then measuring the raw limits…")
    with signals_ignored():
        served.close()
    # After the stop: a second sending of any order would be in the sink by now.
    watcher.poll()
    for sample in samples:
        sample.duplicates = max(0, len(watcher.found.get(sample.reference, [])) - 1)
    first = next((sample.mail for sample in samples if sample.mail), None)
    message = first.path.read_bytes() if first else minimal_pdf(["no e-mail arrived"])
    smtp = measure_smtp(message, var_dir / "raw-sink", count=args.smtp_messages)
    listing = measure_listing(args.store, var_dir, s3_endpoint=s3_endpoint, keys=args.listing_keys)
    run = Run(
        store=args.store,
        mode="burst" if args.burst else "sequential",
        gap=args.gap,
        samples=samples,
        senders=sending_run_ids(references),
        flow_runs=flow_runs,
        smtp=smtp,
        listing=listing,
        runner_poll=runner_poll,
    )
    return build_result(run)


def _upload_all(
    references: list[str],
    store: DocumentStore,
    watcher: MailWatcher,
    args: argparse.Namespace,
    console: Console,
) -> list[Sample]:
    samples: list[Sample] = []
    for number, reference in enumerate(references, start=1):
        pod_at = datetime.now(UTC)
        _upload(store, reference, DocumentType.POD)
        time.sleep(args.gap)
        started_at = datetime.now(UTC)
        _upload(store, reference, DocumentType.CMR)
        uploaded = (datetime.now(UTC) - started_at).total_seconds()
        sample = Sample(reference, pod_at, started_at, uploaded)
        samples.append(sample)
        if not args.burst:
            sample.mail = watcher.wait_for(reference, args.timeout)
            shown = f"{sample.latency:.2f} s" if sample.latency is not None else "no e-mail"
            console.print(f"  {number:>3}/{len(references)} {reference}: {shown}")
        time.sleep(args.gap)
    return samples


def _upload(store: DocumentStore, reference: str, doc_type: DocumentType) -> None:
    """`haulflow documents upload order:REFERENCE TYPE FILE`, minus the process start."""
    settings = get_settings()
    require_current_schema()
    with session_scope() as session:
        record_and_open_gates(
            session=session,
            store=store,
            ref=parse_entity_ref(f"order:{reference}"),
            doc_type=doc_type,
            data=minimal_pdf([f"{doc_type.value.upper()} {reference}", "benchmark scan"]),
            filename=f"{reference}-{doc_type.value}.pdf",
            source="benchmark",
            max_bytes=settings.max_document_bytes,
            now=utcnow(),
        )


def _remove(var_dir: Path, *, keep: bool, console: Console) -> None:
    if keep:
        console.print(f"kept {var_dir} (logs under logs/, e-mails under mailsink/)")
    else:
        shutil.rmtree(var_dir, ignore_errors=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.upload_latency", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--uploads", type=int, default=20, help="orders (POD + CMR each)")
    parser.add_argument("--store", choices=("folder", "s3"), default="folder")
    parser.add_argument("--gap", type=float, default=3.0, help="seconds between uploads")
    parser.add_argument("--burst", action="store_true", help="do not wait for each e-mail")
    parser.add_argument("--timeout", type=float, default=150.0, help="seconds per e-mail")
    parser.add_argument(
        "--runner-poll",
        type=float,
        help="set PREFECT_RUNNER_POLL_FREQUENCY for `haulflow serve` (default: unset)",
    )
    parser.add_argument("--smtp-messages", type=int, default=200)
    parser.add_argument("--listing-keys", type=int, default=5000)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary var folder")
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
