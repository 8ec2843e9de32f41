"""`haulflow listen` as an operator runs it: set up or told how, then stopped by Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from queue import Empty, Queue

import boto3
import pytest
from sqlmodel import Session

from tests.cli.conftest import REPO, RunCli
from tests.factories import make_order
from tests.mailroom import pdf

REGION = "eu-west-1"


def test_listen_without_a_queue_says_how_to_set_one_up(run_cli: RunCli) -> None:
    result = run_cli("listen")
    assert result.returncode == 1
    assert "HAULFLOW_SQS_QUEUE_URL" in result.stderr and "s3:ObjectCreated:*" in result.stderr
    assert "'inbox/'" in result.stderr and "Traceback" not in result.stderr


def test_listen_asks_for_the_s3_store_and_a_region(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("HAULFLOW_SQS_QUEUE_URL", "http://127.0.0.1:9/000000000000/q")
    on_folder = run_cli("listen")
    assert on_folder.returncode == 1 and "HAULFLOW_DOCUMENT_STORE=s3" in on_folder.stderr
    monkeypatch.setenv("HAULFLOW_DOCUMENT_STORE", "s3")
    monkeypatch.setenv("HAULFLOW_S3_BUCKET", "carrier-docs")
    no_region = run_cli("listen")
    assert no_region.returncode == 1 and "set HAULFLOW_S3_REGION" in no_region.stderr
    assert "Traceback" not in on_folder.stderr + no_region.stderr


def _lines(stream: Iterator[str]) -> Queue[str]:
    """The lines of a pipe, read by a thread, so a test can wait for one with a timeout."""
    lines: Queue[str] = Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    return lines


def _wait_for(lines: Queue[str], text: str, seen: list[str]) -> None:
    while True:
        try:
            line = lines.get(timeout=30)
        except Empty:
            pytest.fail(f"no {text!r} in {seen}")
        seen.append(line)
        if text in line:
            return


def test_listen_records_a_drop_and_stops_cleanly_on_ctrl_c(
    session: Session,
    s3_env: str,
    s3_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    order = make_order(session)
    session.commit()
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION)
    sqs = boto3.client("sqs", endpoint_url=s3_endpoint, region_name=REGION)
    queue_url = sqs.create_queue(QueueName=f"listen-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    s3.put_bucket_notification_configuration(
        Bucket=s3_env,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn["Attributes"]["QueueArn"],
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "inbox/"}]}},
                }
            ]
        },
    )
    settings = {
        "DOCUMENT_STORE": "s3",
        "S3_BUCKET": s3_env,
        "S3_ENDPOINT_URL": s3_endpoint,
        "S3_REGION": REGION,
        "SQS_QUEUE_URL": queue_url,
        "SQS_ENDPOINT_URL": s3_endpoint,
    }
    for name, value in settings.items():
        monkeypatch.setenv(f"HAULFLOW_{name}", value)
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")
    with subprocess.Popen(
        [sys.executable, "-m", "cli", "listen", "--wait", "1"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        try:
            lines, seen = _lines(process.stdout), []
            _wait_for(lines, "listening on", seen)
            key = f"inbox/order/{order.reference}/pod/scan-1.pdf"
            s3.put_object(Bucket=s3_env, Key=key, Body=pdf("cli"))
            recorded = f"recorded pod scan-1.pdf for order {order.reference} from {key}"
            _wait_for(lines, recorded, seen)
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) == 0, process.stderr.read()
            _wait_for(lines, "stopped", seen)
            assert "Traceback" not in process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()
