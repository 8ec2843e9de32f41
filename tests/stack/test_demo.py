"""`haulflow demo --json` end to end, as the README's main job runs it: folder store and S3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]
STEPS = [
    "stack started",
    "an order from before the automation",
    "configuration applied",
    "orders and trips created, tasks generated",
    "POD uploaded: nothing sent",
    "CMR uploaded: one e-mail with both documents",
    "the task completed in the history",
    "a configuration change leaves the older order alone",
    "a hand run sends the older order's e-mail once",
]


def _demo(tmp_path: Path, **env: str) -> dict[str, object]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    environment |= {"HAULFLOW_VAR_DIR": str(tmp_path / "var"), **env}
    process = subprocess.run(
        [sys.executable, "-m", "cli", "demo", "--json"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert process.returncode == 0, process.stdout + process.stderr
    result: dict[str, object] = json.loads(process.stdout)
    return result


def _assert_story(result: dict[str, object]) -> None:
    steps = result["steps"]
    assert isinstance(steps, list)
    assert [step["name"] for step in steps] == STEPS
    assert all(step["ok"] for step in steps), steps
    assert result["ok"] is True
    # The stack's start is timed as the step's own: seconds, never the 0.0 of a no-op.
    assert steps[0]["seconds"] >= 1, steps[0]


def test_the_demo_on_the_folder_store(tmp_path: Path) -> None:
    result = _demo(tmp_path, HAULFLOW_DOCUMENT_STORE="folder")
    _assert_story(result)
    assert list((tmp_path / "var" / "demo-run" / "documents" / "emails").rglob("*.eml"))


def test_the_demo_on_s3(tmp_path: Path, s3_endpoint: str, s3_env: str) -> None:
    result = _demo(
        tmp_path,
        HAULFLOW_DOCUMENT_STORE="s3",
        HAULFLOW_S3_BUCKET=s3_env,
        HAULFLOW_S3_ENDPOINT_URL=s3_endpoint,
        HAULFLOW_S3_REGION="eu-west-1",
    )
    _assert_story(result)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="eu-west-1")
    keys = [item["Key"] for item in client.list_objects_v2(Bucket=s3_env)["Contents"]]
    assert any(key.endswith(".eml") for key in keys)
    assert any("/documents/" in key for key in keys)


@pytest.fixture(autouse=True)
def _no_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo keeps its own SQLite file whatever the test session's database."""
    monkeypatch.delenv("HAULFLOW_DATABASE_URL", raising=False)
