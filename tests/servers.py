"""Real local servers for tests: an SMTP server over TCP (aiosmtpd) and S3 over HTTP (moto)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass(frozen=True)
class Received:
    """One message the SMTP server accepted: envelope and the exact bytes."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    # When the server accepted it (time.monotonic), for latency measurements.
    received_at: float = field(default_factory=time.monotonic)

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)
    # Replies given instead of accepting, one per DATA, e.g. "451 4.3.0 try later".
    scripted: list[str] = field(default_factory=list)
    refused_recipients: dict[str, str] = field(default_factory=dict)
    # The client end of each connection that greeted (a STARTTLS re-greeting is the same).
    peers: set[Any] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # How long the server takes to accept each message (a real relay: tens of ms).
    delay: float = 0.0

    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        with self.lock:
            self.peers.add(session.peer)
        return responses

    async def handle_HELO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str
    ) -> str:
        session.host_name = hostname
        with self.lock:
            self.peers.add(session.peer)
        return f"250 {server.hostname}"

    async def handle_RCPT(  # noqa: N802  (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if refusal := self.refused_recipients.get(address.lower()):
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            if self.scripted:
                return self.scripted.pop(0)
            self.received.append(
                Received(envelope.mail_from, tuple(envelope.rcpt_tos), envelope.original_content)
            )
        return "250 Message accepted for delivery"


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 that keeps what it accepts and can be scripted.

    `options` go to aiosmtpd's `Controller`: `ssl_context` (implicit TLS), `tls_context` and
    `require_starttls` (STARTTLS), `authenticator`, `auth_require_tls`, `timeout` (idle)...
    """

    def __init__(self, port: int | None = None, **options: Any) -> None:
        self.port = port or free_port()
        self._handler = _Handler()
        self._options = options
        self._controller: Controller | None = None

    @property
    def received(self) -> list[Received]:
        with self._handler.lock:
            return list(self._handler.received)

    @property
    def connections(self) -> int:
        """How many client connections greeted the server (EHLO or HELO) so far."""
        with self._handler.lock:
            return len(self._handler.peers)

    def start(self) -> None:
        self._controller = Controller(
            self._handler, hostname="127.0.0.1", port=self.port, **self._options
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def reply_next(self, *replies: str) -> None:
        """Answer the next DATA commands with these replies instead of accepting."""
        with self._handler.lock:
            self._handler.scripted.extend(replies)

    def refuse(self, *addresses: str, reply: str = "550 5.1.1 mailbox unavailable") -> None:
        """Refuse these recipients at RCPT TO with `reply` (a 550 unless told)."""
        self._handler.refused_recipients.update((address.lower(), reply) for address in addresses)

    def take(self, seconds: float) -> None:
        """Take `seconds` to accept each message from now on, as a real relay does."""
        self._handler.delay = seconds

    def clear(self) -> None:
        with self._handler.lock:
            self._handler.received.clear()


@dataclass
class Authenticator:
    """An aiosmtpd `authenticator` accepting one username and password; keeps who logged in."""

    username: str
    password: str
    logins: list[str] = field(default_factory=list)

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and auth_data == (
            self.username.encode(),
            self.password.encode(),
        ):
            self.logins.append(self.username)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@dataclass(frozen=True)
class TestCertificate:
    """A self-signed certificate for 127.0.0.1 and localhost, and TLS contexts for both ends."""

    __test__ = False  # not a pytest test class despite the name

    cert_pem: bytes
    key_pem: bytes

    @classmethod
    def generate(cls) -> TestCertificate:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "haulflow test")])
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            # Valid on any day: OpenSSL checks against the machine's clock, which the
            # moved-clock passes of `./dev test` do not move (only Python's is).
            .not_valid_before(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(
            cert_pem=certificate.public_bytes(serialization.Encoding.PEM),
            key_pem=key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )

    def server_context(self) -> ssl.SSLContext:
        """The server's context, presenting this certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        # load_cert_chain reads files only; they are needed for the call alone.
        with tempfile.TemporaryDirectory() as directory:
            cert, key = Path(directory, "cert.pem"), Path(directory, "key.pem")
            cert.write_bytes(self.cert_pem)
            key.write_bytes(self.key_pem)
            context.load_cert_chain(cert, key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this certificate only."""
        return ssl.create_default_context(cadata=self.cert_pem.decode("ascii"))


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_smtp_sink(**options: Any) -> Iterator[SmtpSink]:
    """A started `SmtpSink(**options)`, stopped at the end."""
    sink = SmtpSink(**options)
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()
