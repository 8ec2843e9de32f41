"""Listening to the bucket: each object dropped under the inbox, announced by S3 through an
SQS queue, is recorded and opens its order's gates (`ingestion.listener`); the listener's
heartbeat tells `haulflow status` it is alive."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

import boto3
from botocore.exceptions import BotoCoreError
from sqlalchemy.exc import SQLAlchemyError

from core.database import get_engine, require_current_schema
from core.errors import NotConfiguredError
from core.settings import Settings
from ingestion.inbox import inbox_location
from ingestion.listener import ListenReport as ListenReport
from ingestion.listener import listen
from ingestion.notifications import SqsSource
from models import utcnow
from models.heartbeats import LISTEN, beat, stop_beating
from storage.base import DocumentStore
from storage.factory import open_document_store

# AWS queue URLs name their region: https://sqs.eu-west-1.amazonaws.com/123456789012/name
_AWS_QUEUE_REGION = re.compile(r"https://sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/")
_log = logging.getLogger("haulflow.listen")


@dataclass
class Listener:
    """A checked queue and store: `run` records what the queue announces until Ctrl-C."""

    source: SqsSource
    store: DocumentStore
    settings: Settings

    @property
    def inbox(self) -> str:
        """Where the drops it records are: `s3://bucket/inbox/`."""
        return f"s3://{self.settings.s3_bucket}/{inbox_location(self.settings)}"

    def run(self, *, wait_seconds: int, on_report: Callable[[ListenReport], None]) -> None:
        """Handle the queue's messages until Ctrl-C (a batch in hand is finished first),
        beating before each poll; the heartbeat is removed on the way out."""
        engine = get_engine()

        def beat_now() -> None:
            try:
                beat(engine=engine, service=LISTEN, now=utcnow())
            except SQLAlchemyError as error:  # a database hiccup only warns
                _log.warning("could not record the heartbeat: %s", error)

        try:
            listen(
                self.source,
                store=self.store,
                wait_seconds=wait_seconds,
                settings=self.settings,
                on_report=on_report,
                on_poll=beat_now,
            )
        finally:
            with suppress(SQLAlchemyError):
                stop_beating(engine=engine, service=LISTEN)


def open_listener(settings: Settings) -> Listener:
    """The queue and the store checked (reachable, the schema current), or a
    `NotConfiguredError` saying what to set."""
    queue_url = require_queue_url(settings)
    if settings.document_store != "s3":
        raise NotConfiguredError(
            "haulflow listen reads the objects from the S3 document store: set "
            "HAULFLOW_DOCUMENT_STORE=s3 and HAULFLOW_S3_BUCKET to the notifying bucket"
        )
    source = open_sqs_source(settings, queue_url)
    require_current_schema()
    store = open_document_store(settings)
    source.check()
    return Listener(source, store, settings)


def require_queue_url(settings: Settings) -> str:
    """`HAULFLOW_SQS_QUEUE_URL`; say how to set the notification up when it is unset."""
    if not settings.sqs_queue_url:
        raise NotConfiguredError(
            "haulflow listen needs HAULFLOW_SQS_QUEUE_URL: create an SQS queue that the bucket "
            f"{settings.s3_bucket or '(HAULFLOW_S3_BUCKET)'} may send to, add an event "
            "notification on the bucket for s3:ObjectCreated:* with the prefix "
            f"'{inbox_location(settings)}' to that queue, and set HAULFLOW_SQS_QUEUE_URL to "
            "the queue's URL"
        )
    return settings.sqs_queue_url


def open_sqs_source(settings: Settings, queue_url: str) -> SqsSource:
    """An SQS client in the queue's region: `HAULFLOW_S3_REGION`, else read from the URL."""
    named = _AWS_QUEUE_REGION.match(queue_url)
    region = settings.s3_region or (named.group(1) if named else None)
    try:
        client = boto3.client("sqs", endpoint_url=settings.sqs_endpoint_url, region_name=region)
    except BotoCoreError as error:
        raise NotConfiguredError(
            f"cannot reach the SQS queue {queue_url}: {error}; set HAULFLOW_S3_REGION to the "
            "region of the bucket and the queue"
        ) from None
    return SqsSource(client, queue_url)
