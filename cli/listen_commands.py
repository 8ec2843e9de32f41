"""`haulflow listen`: record documents other systems drop into the bucket, as S3 announces them."""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime
from types import FrameType
from typing import Annotated

import typer
from rich.markup import escape

from cli.output import console, stderr
from core.moments import human_moment
from core.settings import get_settings
from models import utcnow
from services.listening import ListenReport, open_listener


def listen(
    wait: Annotated[
        int, typer.Option(min=1, max=20, help="Seconds each poll of the queue waits (long poll).")
    ] = 10,
) -> None:
    """Record each document dropped under the inbox and wake the flows, until Ctrl-C."""
    listener = open_listener(get_settings())
    _show_warnings()
    console.print(
        f"listening on {listener.source.queue_url} for documents under {listener.inbox} "
        "(Ctrl-C to stop)"
    )
    # `haulflow up` and service managers stop it with SIGTERM: the same as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    listener.run(wait_seconds=wait, on_report=_print)
    console.print(f"{_now()} stopped")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _now() -> str:
    return human_moment(utcnow(), seconds=True)


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
