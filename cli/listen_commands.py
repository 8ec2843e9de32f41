"""`haulflow listen`: record documents other systems drop into the bucket, as S3 announces them."""

from __future__ import annotations

import logging
import re
import signal
from contextlib import suppress
from datetime import UTC, datetime
from types import FrameType
from typing import Annotated

import boto3
import typer
from botocore.exceptions import BotoCoreError
from rich.markup import escape
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from cli.output import console, stderr
from core.database import get_engine, require_current_schema
from core.errors import NotConfiguredError
from core.moments import human_moment
from core.settings import Settings, get_settings
from ingestion.inbox import inbox_location
from ingestion.listener import ListenReport
from ingestion.listener import listen as listen_loop
from ingestion.notifications import SqsSource
from models import utcnow
from models.heartbeats import LISTEN, beat, stop_beating
from storage.factory import open_document_store

# AWS queue URLs name their region: https://sqs.eu-west-1.amazonaws.com/123456789012/name
_AWS_QUEUE_REGION = re.compile(r"https://sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/")


def listen(
    wait: Annotated[
        int, typer.Option(min=1, max=20, help="Seconds each poll of the queue waits (long poll).")
    ] = 10,
) -> None:
    """Record each document dropped under the inbox and wake the flows, until Ctrl-C."""
    settings = get_settings()
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
    _show_warnings()
    console.print(
        f"listening on {source.queue_url} for documents under "
        f"s3://{settings.s3_bucket}/{inbox_location(settings)} (Ctrl-C to stop)"
    )
    engine = get_engine()
    # `haulflow up` and service managers stop it with SIGTERM: the same as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        listen_loop(
            source,
            store=store,
            wait_seconds=wait,
            settings=settings,
            on_report=_print,
            on_poll=lambda: _beat(engine),
        )
    finally:
        with suppress(SQLAlchemyError):
            stop_beating(engine=engine, service=LISTEN)
    console.print(f"{_now()} stopped")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _beat(engine: Engine) -> None:
    """Tell `haulflow status` this listener is alive; a database hiccup only warns."""
    try:
        beat(engine=engine, service=LISTEN, now=utcnow())
    except SQLAlchemyError as error:
        logging.getLogger("haulflow.listen").warning("could not record the heartbeat: %s", error)


def _now() -> str:
    return human_moment(utcnow(), seconds=True)


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


def _show_warnings() -> None:
    """Print the listener's warnings (a refused key, a retry) on stderr, one line each."""
    handler = logging.StreamHandler(stderr.file)
    handler.setFormatter(_TimedFormatter("%(asctime)s warning: %(message)s"))
    listener_logger = logging.getLogger("haulflow.listen")
    listener_logger.addHandler(handler)
    listener_logger.setLevel(logging.INFO)
    listener_logger.propagate = False


class _TimedFormatter(logging.Formatter):
    """Each line starts with its moment in the carrier's timezone, like the rest of haulflow."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return human_moment(datetime.fromtimestamp(record.created, UTC), seconds=True)


def _print(report: ListenReport) -> None:
    now = _now()
    for drop in report.recorded:
        opened = f"; {drop.opened} task(s) now have every required document" if drop.opened else ""
        console.print(
            f"{now} recorded {drop.doc_type} {escape(drop.filename)} for order "
            f"{escape(drop.order_reference)} from {escape(drop.key)}: {drop.size:,} bytes{opened}"
        )
    for key in report.already_recorded:
        console.print(f"{now} already recorded: {escape(key)}; nothing changed")
