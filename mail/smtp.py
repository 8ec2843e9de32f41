"""Send messages over SMTP with smtplib: one connection per batch, failures classified.

Exceptions: `SendError` is the base; `TemporarySendError` (4xx replies, timeouts, refused or
dropped connections, DNS failures) may succeed later; `PermanentSendError` (5xx replies,
refused login, every recipient refused, no STARTTLS, untrusted certificate) will not.
Messages quote the server's words and never the password.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.errors import HaulflowError

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

SECURITIES = ("plain", "starttls", "ssl")
# The socket timeout bounds a whole sendall(); a large message on a slow uplink gets this
# much extra time per byte instead of failing halfway.
MIN_UPLOAD_BYTES_PER_SECOND = 100_000


@dataclass(frozen=True)
class SmtpAccount:
    """Where and how to reach an SMTP relay; `password` is the secret itself, never logged."""

    host: str
    port: int
    security: str  # "plain" | "starttls" | "ssl"
    username: str | None = None
    # Left out of repr(): an account printed in a log or traceback must not show it.
    password: str | None = field(default=None, repr=False)
    allow_plain_login: bool = False
    timeout: float = 30.0


class SendError(HaulflowError):
    """Sending failed; `temporary`, the SMTP `code` if any and the server's `reply`."""

    temporary = False

    def __init__(self, message: str, *, code: int | None = None, reply: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reply = reply


class TemporarySendError(SendError):
    """Sending may succeed later: 4xx, timeout, refused or dropped connection, DNS failure."""

    temporary = True


class PermanentSendError(SendError):
    """Sending will fail again until someone changes something: 5xx, login, TLS, recipients."""


@dataclass(frozen=True)
class SendOutcome:
    """What the server did with an accepted message."""

    refused: dict[str, str]  # recipients refused while others were accepted: address -> reply


class _Client(smtplib.SMTP):
    """smtplib.SMTP that notes when DATA begins: from then on a retry could deliver twice."""

    data_started = False

    def data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        self.data_started = True
        if self.sock is not None and isinstance(msg, bytes):
            self.sock.settimeout(self.timeout + len(msg) / MIN_UPLOAD_BYTES_PER_SECOND)
        try:
            return super().data(msg)
        finally:
            if self.sock is not None:
                self.sock.settimeout(self.timeout)


class _SslClient(_Client, smtplib.SMTP_SSL):
    """_Client over implicit TLS (port 465)."""


class SmtpConnection:
    """One SMTP session reused for many messages; reconnects once if the server hung up."""

    def __init__(self, account: SmtpAccount, ssl_context: ssl.SSLContext | None = None) -> None:
        if account.security not in SECURITIES:
            raise ValueError(f"SMTP security must be one of {SECURITIES}, not {account.security!r}")
        self._account = account
        self._ssl_context = ssl_context
        self._where = f"SMTP {account.host}:{account.port}"
        self._client: _Client | None = None

    def send(self, message: bytes, *, envelope_from: str, recipients: list[str]) -> SendOutcome:
        """Send `message` to `recipients`; raise SendError unless at least one accepted it."""
        if not recipients:
            raise ValueError("send needs at least one recipient")
        for attempt in (1, 2):
            client = self._connected()
            client.data_started = False
            try:
                refused = client.sendmail(envelope_from, recipients, message)
            except (smtplib.SMTPException, OSError) as error:
                if attempt == 1 and not client.data_started and _hung_up(error):
                    # An idle connection the server (or a NAT) dropped: nothing was sent yet.
                    self.close()
                    continue
                raise self._send_error(error, client.data_started) from error
            return SendOutcome({address: _reply(*reply) for address, reply in refused.items()})
        raise AssertionError("unreachable: the second attempt returns or raises")

    def connect(self) -> None:
        """Open the session (TLS and login as the account says) unless it is open."""
        self._connected()

    def quit(self) -> None:
        """Say QUIT and close; a server that already hung up is fine."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            client.close()

    def close(self) -> None:
        """Drop the connection without QUIT (after an error)."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _connected(self) -> _Client:
        if self._client is not None and self._client.sock is not None:
            return self._client
        self.close()
        client = self._open()
        try:
            self._greet(client)
        except BaseException:
            client.close()
            raise
        self._client = client
        return client

    def _open(self) -> _Client:
        account = self._account
        try:
            if account.security == "ssl":
                return _SslClient(
                    account.host, account.port, timeout=account.timeout, context=self._context()
                )
            return _Client(account.host, account.port, timeout=account.timeout)
        except (smtplib.SMTPException, OSError) as error:
            raise self._send_error(error) from error

    def _greet(self, client: _Client) -> None:
        account = self._account
        try:
            client.ehlo_or_helo_if_needed()
            if account.security == "starttls":
                if not client.has_extn("starttls"):
                    raise PermanentSendError(
                        f"{self._where} does not offer STARTTLS: check the mailbox's host, port "
                        "and security (ssl is usually port 465, starttls port 587)"
                    )
                client.starttls(context=self._context())
                client.ehlo()
            if account.username and client.has_extn("auth"):
                if account.security == "plain" and not account.allow_plain_login:
                    raise PermanentSendError(
                        f"{self._where}: the login of {account.username} would cross a plain "
                        "connection with the password in clear: use starttls or ssl (or "
                        "allow_plain_login: true for a trusted relay)"
                    )
                client.login(account.username, account.password or "")
        except (smtplib.SMTPException, OSError) as error:
            raise self._send_error(error) from error

    def _context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    def _send_error(self, error: Exception, data_started: bool = False) -> SendError:
        where = self._where
        if isinstance(error, smtplib.SMTPRecipientsRefused):
            replies = {address: _reply(*reply) for address, reply in error.recipients.items()}
            codes = [code for code, _ in error.recipients.values()]
            listed = "; ".join(f"{address}: {reply}" for address, reply in replies.items())
            kind = TemporarySendError if all(400 <= c < 500 for c in codes) else PermanentSendError
            return kind(f"{where} refused every recipient: {listed}", code=codes[0], reply=listed)
        if isinstance(error, smtplib.SMTPResponseException):
            code, reply = error.smtp_code, _reply(error.smtp_code, error.smtp_error)
            kind = PermanentSendError if 500 <= code < 600 else TemporarySendError
            if isinstance(error, smtplib.SMTPAuthenticationError):
                message = (
                    f"{where} refused the login of {self._account.username}: {reply}; "
                    "check the mailbox's username and password"
                )
            else:
                message = f"{where} answered {reply}"
            return kind(message, code=code, reply=reply)
        if isinstance(error, smtplib.SMTPServerDisconnected):
            if isinstance(error.__context__, TimeoutError):
                return self._timed_out()
            if data_started:
                return TemporarySendError(
                    f"{where} closed the connection while the message was being sent; "
                    "it may have been delivered"
                )
            return TemporarySendError(f"{where} closed the connection ({error})")
        if isinstance(error, smtplib.SMTPException):
            return PermanentSendError(f"{where}: {error}")
        if isinstance(error, ssl.SSLCertVerificationError):
            return PermanentSendError(
                f"{where}: the server's TLS certificate is not trusted ({error.verify_message}); "
                "check the mailbox's host name"
            )
        if isinstance(error, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            return TemporarySendError(f"{where} closed the connection during TLS ({error})")
        if isinstance(error, ssl.SSLError):
            return PermanentSendError(
                f"{where}: TLS failed ({error.reason or error}); check the mailbox's port and "
                "security (ssl is usually port 465, starttls port 587)"
            )
        if isinstance(error, socket.gaierror):
            return TemporarySendError(f"{where}: cannot resolve {self._account.host} ({error})")
        if isinstance(error, ConnectionRefusedError):
            return TemporarySendError(f"{where} refused the connection (nothing listening?)")
        if isinstance(error, TimeoutError):
            return self._timed_out()
        return TemporarySendError(f"{where}: {error}")

    def _timed_out(self) -> TemporarySendError:
        return TemporarySendError(
            f"{self._where} did not answer within {self._account.timeout:g} s"
        )


@contextmanager
def open_smtp(
    account: SmtpAccount, *, ssl_context: ssl.SSLContext | None = None
) -> Iterator[SmtpConnection]:
    """One connection (and login) for every send inside the block; closed by QUIT, or on error."""
    connection = SmtpConnection(account, ssl_context)
    connection.connect()
    try:
        yield connection
    except BaseException:
        connection.close()
        raise
    connection.quit()


def _hung_up(error: Exception) -> bool:
    """True when the server closed the connection (or said it will: 421) before any DATA."""
    if isinstance(error, smtplib.SMTPServerDisconnected | ConnectionError):
        return True
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code == 421
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return any(code == 421 for code, _ in error.recipients.values())
    return False


def _reply(code: int, text: bytes | str) -> str:
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(words.split())}"
