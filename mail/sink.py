"""The local SMTP sink of `haulflow up`: every accepted message becomes an `.eml` file.

Each message is written as `<UTC timestamp>-<sha256 prefix>.eml` holding the exact bytes
received, so the archive of a sent e-mail and its sink copy can be compared byte for byte;
the envelope (sender, recipients, time) goes to a `.json` file of the same name, since
adding headers would change those bytes. Both are written to a temporary name and renamed,
the `.json` first: a reader that sees an `.eml` sees a complete message and its envelope.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from core.errors import HaulflowError

HOST = "127.0.0.1"


class MailSinkError(HaulflowError):
    """The sink cannot start (its port is taken, its folder cannot be created)."""


@dataclass(frozen=True)
class MailSink:
    """A running sink: where it listens and where it writes."""

    host: str
    port: int
    directory: Path

    @property
    def address(self) -> str:
        """`host:port`, the form of the `HAULFLOW_SMTP_RELAY` setting."""
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class _Handler:
    directory: Path
    accept_seconds: float = 0.0

    async def handle_DATA(  # noqa: N802  (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        if self.accept_seconds:
            await asyncio.sleep(self.accept_seconds)
        try:
            write_message(
                self.directory,
                data=envelope.original_content,
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                received_at=datetime.now(UTC),
            )
        except OSError:
            # A temporary refusal: the sender keeps the message and tries again later.
            return "451 4.3.0 the sink could not store the message"
        return "250 Message accepted for delivery"


def write_message(
    directory: Path, *, data: bytes, mail_from: str, rcpt_tos: list[str], received_at: datetime
) -> Path:
    """Write one message and its envelope atomically; return the `.eml` path."""
    stamp = received_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    name = f"{stamp}-{hashlib.sha256(data).hexdigest()[:10]}"
    envelope = {
        "mail_from": mail_from,
        "rcpt_tos": rcpt_tos,
        "received_at": received_at.isoformat(),
        "message_file": f"{name}.eml",
        "size": len(data),
    }
    _write_atomically(directory / f"{name}.json", json.dumps(envelope, indent=2).encode())
    path = directory / f"{name}.eml"
    _write_atomically(path, data)
    return path


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


@contextmanager
def running_mail_sink(
    directory: Path, port: int, *, host: str = HOST, accept_seconds: float = 0.0
) -> Iterator[MailSink]:
    """An SMTP server on `host:port` writing every message under `directory`, until exit.

    `accept_seconds`: how long it takes to accept each message (connections in parallel),
    for benchmarks that stand it in for a real relay (tens of milliseconds a message).
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MailSinkError(
            f"cannot create the mail sink folder {directory}: {error.strerror or error}; "
            "choose another with HAULFLOW_MAILSINK_DIR"
        ) from None
    # aiosmtpd reports a taken port only after its 5-second start timeout: probe first.
    _refuse_taken_port(host, port)
    controller = Controller(_Handler(directory, accept_seconds), hostname=host, port=port)
    try:
        controller.start()
    except OSError as error:
        # aiosmtpd leaves the event loop of a server that could not bind open.
        controller.loop.close()
        if error.errno == errno.EADDRINUSE:
            raise _port_taken(host, port) from None
        raise
    try:
        yield MailSink(host=host, port=port, directory=directory)
    finally:
        controller.stop()


def _refuse_taken_port(host: str, port: int) -> None:
    with socket.socket() as probe:
        # As servers do: a port left in TIME_WAIT by a stopped server counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise _port_taken(host, port) from None
            raise


def _port_taken(host: str, port: int) -> MailSinkError:
    return MailSinkError(
        f"port {port} on {host} is already in use, so the mail sink cannot listen there: "
        "stop what uses it (another `haulflow up`?) or choose another port with "
        "HAULFLOW_SMTP_SINK_PORT"
    )
