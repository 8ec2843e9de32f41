"""A bucket whose ObjectCreated notifications go to a real SQS queue, on moto's server.

The `inbox` fixture (registered by tests/ingestion/conftest.py) sets haulflow's S3 and SQS
settings for it; `Inbox` drops objects as another system would and runs one turn of
`haulflow listen`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from core.settings import Settings, get_settings
from ingestion.listener import ListenReport, handle_notifications
from ingestion.notifications import SqsSource
from models import utcnow
from storage.base import DocumentStore
from storage.s3 import S3Store

REGION = "eu-west-1"
PREFIX = "haulflow"
# Seconds a received, unacknowledged message stays invisible: short, so redelivery is quick.
VISIBILITY = 1


@dataclass
class Inbox:
    """A bucket notifying a queue, haulflow's settings for both, and the listener's steps."""

    s3: Any
    sqs: Any
    bucket: str
    queue_url: str
    store: S3Store

    @property
    def settings(self) -> Settings:
        """Read when used: the database fixture may set its URL after this one ran."""
        return get_settings()

    @property
    def source(self) -> SqsSource:
        return SqsSource(self.sqs, self.queue_url)

    def drop(self, key: str, data: bytes) -> str:
        """Write an object as another system would; return its full key in the bucket."""
        full_key = f"{PREFIX}/{key}"
        self.s3.put_object(Bucket=self.bucket, Key=full_key, Body=data)
        return full_key

    def handle(
        self, *, store: DocumentStore | None = None, acknowledge: bool = True
    ) -> ListenReport:
        """One turn of `haulflow listen`: receive, handle, acknowledge what is done."""
        received = self.source.receive(wait_seconds=1)
        report = handle_notifications(
            received=received, store=store or self.store, settings=self.settings, now=utcnow()
        )
        if acknowledge:
            for message in report.acknowledged:
                self.source.acknowledge(message)
        return report

    def waiting(self) -> int:
        """Messages still in the queue, visible or not."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)
        return sum(int(attributes["Attributes"][name]) for name in names)

    def objects(self, under: str) -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=f"{PREFIX}/{under}")
        return [item["Key"] for item in listed.get("Contents", [])]


def make_queue(sqs: Any) -> tuple[str, str]:
    url = sqs.create_queue(
        QueueName=f"haulflow-{uuid.uuid4().hex[:12]}",
        Attributes={"VisibilityTimeout": str(VISIBILITY)},
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return url, arn["QueueArn"]


@pytest.fixture
def inbox(s3_env: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Inbox:
    """Bucket-wide ObjectCreated notifications to a fresh queue; the store under `haulflow/`."""
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION)
    sqs = boto3.client("sqs", endpoint_url=s3_endpoint, region_name=REGION)
    queue_url, queue_arn = make_queue(sqs)
    s3.put_bucket_notification_configuration(
        Bucket=s3_env,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    settings = {
        "DOCUMENT_STORE": "s3",
        "S3_BUCKET": s3_env,
        "S3_PREFIX": PREFIX,
        "S3_ENDPOINT_URL": s3_endpoint,
        "S3_REGION": REGION,
        "SQS_QUEUE_URL": queue_url,
        "SQS_ENDPOINT_URL": s3_endpoint,
    }
    for name, value in settings.items():
        monkeypatch.setenv(f"HAULFLOW_{name}", value)
    get_settings.cache_clear()
    store = S3Store(s3, s3_env, PREFIX)
    return Inbox(s3, sqs, s3_env, queue_url, store)
