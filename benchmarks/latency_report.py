"""The latency benchmark's figures: one dict (the `--json` output) and its table."""

from __future__ import annotations

import math
import os
import platform
import statistics
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.raw_limits import ListingLimit, SmtpLimit
from benchmarks.stack_harness import RunRecord, SinkMail, describe_sender
from core.events import BUCKET_SECONDS
from core.settings import get_settings
from deployments.catalog import DISPATCH_LINGER_SECONDS


@dataclass
class Sample:
    """One order: when its POD and CMR uploads started, how long the CMR's took, its e-mail."""

    reference: str
    pod_at: datetime
    started_at: datetime
    upload_seconds: float
    mail: SinkMail | None = None
    duplicates: int = 0

    @property
    def latency(self) -> float | None:
        if self.mail is None:
            return None
        return (self.mail.received_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class Run:
    """What was measured, with the settings it ran under."""

    store: str
    mode: str
    gap: float
    samples: list[Sample]
    senders: dict[str, uuid.UUID]
    flow_runs: dict[uuid.UUID, RunRecord]
    smtp: SmtpLimit
    listing: ListingLimit
    # What `haulflow serve`'s runner really polls at (`probe_runner_poll`).
    runner_poll: float


def build_result(run: Run) -> dict[str, Any]:
    """Every figure, JSON-ready; times in seconds unless the key says otherwise."""
    samples, smtp, listing = run.samples, run.smtp, run.listing
    latencies = sorted(s.latency for s in samples if s.latency is not None)
    median = statistics.median(latencies) if latencies else None
    sent_by = _count(
        describe_sender(sample.reference, _sender_name(run, sample.reference)) for sample in samples
    )
    origin = samples[0].pod_at if samples else None
    return {
        "uploads": len(samples),
        "store": run.store,
        "mode": run.mode,
        "gap_s": run.gap,
        "missing": sum(s.mail is None for s in samples),
        "duplicates": sum(s.duplicates for s in samples),
        "median_s": median,
        "p90_s": percentile(latencies, 0.9),
        "max_s": latencies[-1] if latencies else None,
        "min_s": latencies[0] if latencies else None,
        "latencies_s": [None if s.latency is None else round(s.latency, 3) for s in samples],
        "upload_call_median_s": statistics.median(s.upload_seconds for s in samples),
        "sent_by": sent_by,
        "message_bytes": smtp.message_bytes,
        "raw_smtp_msgs_per_s": smtp.per_second,
        "raw_smtp_ms_per_msg": smtp.ms_per_message,
        "ratio_median_to_raw_smtp": (
            median * 1000 / smtp.ms_per_message if median is not None else None
        ),
        "listing_store": listing.store,
        "listing_keys": listing.keys,
        "listing_keys_per_s": listing.raw_keys_per_second,
        "listing_raw_ms_per_1000_keys": listing.ms_per_1000(listing.raw_seconds),
        "listing_store_ms_per_1000_keys": listing.ms_per_1000(listing.store_seconds),
        "reconcile_ms_per_1000_keys": listing.ms_per_1000(listing.reconcile_seconds),
        "ratio_reconcile_to_raw_listing": listing.reconcile_seconds / listing.raw_seconds,
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "settings": {
            "runner_poll_s": run.runner_poll,
            "event_bucket_s": BUCKET_SECONDS,
            "dispatch_linger_s": DISPATCH_LINGER_SECONDS,
            "sweep_interval_s": get_settings().sweep_interval_seconds,
        },
        # Flow runs created from the first upload on, the sweep's future schedule left out.
        "runs_by_state": _count(
            record.state
            for record in run.flow_runs.values()
            if origin is not None and record.created >= origin and record.state != "Scheduled"
        ),
        # Seconds from the first upload: when each upload and e-mail happened, and each run.
        "timeline": [
            {
                "order": sample.reference,
                "pod": _offset(sample.pod_at, origin),
                "cmr": _offset(sample.started_at, origin),
                "mail": _offset(sample.mail.received_at if sample.mail else None, origin),
                "sent_by": _sender_name(run, sample.reference),
            }
            for sample in samples
        ],
        "flow_runs": [
            {
                "name": record.name,
                "state": record.state,
                "created": _offset(record.created, origin),
                "started": _offset(record.started, origin),
                "ended": _offset(record.ended, origin),
            }
            for record in sorted(run.flow_runs.values(), key=lambda record: record.created)
        ],
    }


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of sorted `values`."""
    if not values:
        return None
    # Rounded first: 0.9 * 20 is 18.000000000000004 in floating point.
    rank = math.ceil(round(len(values) * fraction, 9))
    return values[min(max(rank, 1), len(values)) - 1]


def _count(values: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _sender_name(run: Run, reference: str) -> str | None:
    record = run.flow_runs.get(run.senders.get(reference, uuid.UUID(int=0)))
    return record.name if record else None


def _offset(moment: datetime | None, origin: datetime | None) -> float | None:
    if moment is None or origin is None:
        return None
    return round((moment - origin).total_seconds(), 3)


def print_table(result: dict[str, Any], console: Console) -> None:
    """The figures a reader compares, one row each."""

    def seconds(key: str) -> str:
        value = result[key]
        return "-" if value is None else f"{value:.2f} s"

    ratio = result["ratio_median_to_raw_smtp"]
    settings = result["settings"]
    rows = [
        ("store, gap between uploads", f"{result['store']}, {result['gap_s']:g} s"),
        ("median / p90", f"{seconds('median_s')} / {seconds('p90_s')}"),
        ("min / max", f"{seconds('min_s')} / {seconds('max_s')}"),
        ("no e-mail / duplicates", f"{result['missing']} / {result['duplicates']}"),
        ("sent by", ", ".join(f"{k}: {v}" for k, v in sorted(result["sent_by"].items()))),
        ("upload call (record + event), median", seconds("upload_call_median_s")),
        (
            "runs created during the run, by state",
            ", ".join(f"{k}: {v}" for k, v in sorted(result["runs_by_state"].items())),
        ),
        (
            f"raw SMTP sink, same {result['message_bytes']:,}-byte message",
            f"{result['raw_smtp_msgs_per_s']:.0f} msg/s, {result['raw_smtp_ms_per_msg']:.1f} ms",
        ),
        ("median latency / raw SMTP message", "-" if ratio is None else f"{ratio:,.0f}×"),
        (
            f"listing {result['listing_keys']:,} keys ({result['listing_store']}), raw",
            f"{result['listing_keys_per_s']:,.0f} keys/s, "
            f"{result['listing_raw_ms_per_1000_keys']:.0f} ms per 1,000",
        ),
        (
            "  via the store / the reconciliation",
            f"{result['listing_store_ms_per_1000_keys']:.0f} / "
            f"{result['reconcile_ms_per_1000_keys']:.0f} ms per 1,000 keys",
        ),
        ("reconciliation / raw listing", f"{result['ratio_reconcile_to_raw_listing']:.1f}×"),
        ("machine", f"{result['machine']['cores']} cores, Python {result['machine']['python']}"),
        (
            "runner poll, event bucket, linger, sweep",
            ", ".join(f"{value:g} s" for value in settings.values()),
        ),
    ]
    table = Table(title=f"upload → SMTP accept, {result['uploads']} orders ({result['mode']})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
