"""The reduced benchmark (`python -m benchmarks --profile ci`) and the floors its ratios keep.

Ratios, not absolute times: each figure is divided by a raw limit or by the naive design,
measured in the same run on the same machine, so a slower CI machine moves both sides.
The floors are looser than the targets (README, "Benchmarks"): they catch a regression of
the design (a lost wake-up waiting for the sweep, a per-item cost creeping in), not the
noise of a loaded machine. Two workers against one is `test_production_topology.py`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.deployments.conftest import REPO

# haulflow's upload → e-mail median against the naive design's (one flow run per event).
LATENCY_VS_NAIVE = 0.5
# A retroactive run's e-mails a second against the sink's own rate for the same messages.
RETRO_VS_RAW = 0.25
# Documents recorded a second by concurrent uploaders against single-row commits a second.
INTAKE_VS_COMMITS = 0.02
# Peak RSS of the process importing the profile's 10 MB file (about 80 MB of it before the
# import starts); reading it whole, as a node tree with a line per value, took 756 MB.
IMPORT_PEAK_MB = 400


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("benchmarks")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--profile",
            "ci",
            "--out",
            str(out),
            "--only",
            "raw,steady,naive_steady,burst,retro,sweep,import",
        ],  # fmt: skip
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads((Path(out) / "report.json").read_text())
    print(done.stderr)  # noqa: T201 - the figures belong in the CI log
    return result


def test_no_scenario_failed(report: dict[str, Any]) -> None:
    failed = {name: value["error"] for name, value in report.items() if _error(value)}
    assert failed == {}


def test_an_upload_is_emailed_far_sooner_than_by_a_flow_run_per_event(
    report: dict[str, Any],
) -> None:
    ours = report["steady"]["sqlite"]["in_process"]
    naive = report["naive_steady"]
    assert (ours["missing"], ours["duplicates"], ours["sent_by_sweep"]) == (0, 0, 0)
    assert ours["p50_s"] / naive["p50_s"] <= LATENCY_VS_NAIVE, (ours, naive)


def test_a_burst_loses_nothing_and_intake_keeps_pace(report: dict[str, Any]) -> None:
    for engine, burst in report["burst"].items():
        assert (burst["missing"], burst["duplicates"], burst["sent_by_sweep"]) == (0, 0, 0)
        commits = report["raw"]["db_insert_rows_per_s"][engine]["commit_per_row_rows_per_s"]
        assert burst["intake_documents_per_s"] / commits >= INTAKE_VS_COMMITS, (engine, burst)


def test_a_retroactive_run_sends_near_the_sinks_own_pace(report: dict[str, Any]) -> None:
    for engine, retro in report["retro"].items():
        assert retro["ratio_to_raw"] >= RETRO_VS_RAW, (engine, retro)


def test_the_sweep_lists_a_thousand_keys_a_request(report: dict[str, Any]) -> None:
    sweep = report["sweep"]
    expected = -(-sweep["keys_in_store"] // 1000) + sweep["unrecorded_objects"]
    assert sweep["s3_requests"] <= expected + 1, sweep
    assert sweep["recorded"] == sweep["unrecorded_objects"]


def _error(value: Any) -> bool:
    if isinstance(value, dict):
        return "error" in value or any(_error(item) for item in value.values())
    return False


def test_a_large_import_keeps_its_memory_flat(report: dict[str, Any]) -> None:
    for engine, result in report["import"].items():
        assert result["orders_created"] == result["orders"] > 40_000, (engine, result)
        assert result["peak_rss_mb"] <= IMPORT_PEAK_MB, (engine, result)
