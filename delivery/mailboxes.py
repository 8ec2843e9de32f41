"""Where a mailbox's e-mails go: its own SMTP server, or the one relay everything goes to.

`HAULFLOW_SMTP_RELAY` (or, while `haulflow up` runs, its sink) sends every mailbox through
one server with no login; otherwise each mailbox connects to its server with the password
read from where it is kept (`core.secrets`), never stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from core.errors import HaulflowError
from core.secrets import read_secret
from core.settings import get_settings
from mail.smtp import SmtpAccount, SmtpConnection, open_smtp
from models import Mailbox

SmtpOpener = Callable[[Mailbox], AbstractContextManager[SmtpConnection]]

# Written by `haulflow up` with its mail sink's address; removed when it stops.
RELAY_FILE = "smtp-relay"


def smtp_relay() -> str | None:
    """`host:port` every mailbox sends through, or None to use each mailbox's own server.

    `HAULFLOW_SMTP_RELAY`, else the mail sink of the `haulflow up` running on this var
    folder: a command typed in another shell (`tasks resend`, `explain`) sends where the
    stack's own runs send, not to the example configuration's servers.
    """
    settings = get_settings()
    if settings.smtp_relay:
        return settings.smtp_relay
    path = settings.var_dir / RELAY_FILE
    try:
        written = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return written or None


def mailbox_account(mailbox: Mailbox, password: str | None, *, timeout: float) -> SmtpAccount:
    """The SMTP account of a mailbox, with its password read; the relay (if any) wins."""
    relay = smtp_relay()
    if relay:
        host, _, port = relay.rpartition(":")
        return SmtpAccount(host=host, port=int(port), security="plain", timeout=timeout)
    return SmtpAccount(
        host=mailbox.smtp_host,
        port=mailbox.smtp_port,
        security=mailbox.smtp_security,
        username=mailbox.smtp_username,
        password=password,
        timeout=timeout,
        allow_plain_login=mailbox.allow_plain_login,
    )


def mailbox_password(mailbox: Mailbox) -> str | None:
    """The password this process logs in to the mailbox's server with, read from where it
    is kept; None without one or through a relay (which takes no login)."""
    if smtp_relay() is not None or not mailbox.password_secret:
        return None
    return read_secret(mailbox.password_secret)


def password_problem(mailbox: Mailbox) -> str | None:
    """Why this process could not log in to the mailbox's server now (its password cannot
    be read), or None."""
    try:
        mailbox_password(mailbox)
    except HaulflowError as error:
        return str(error)
    return None


@contextmanager
def open_mailbox(mailbox: Mailbox) -> Iterator[SmtpConnection]:
    """Connect to a mailbox's SMTP server (or the relay) with its password."""
    password = mailbox_password(mailbox)
    account = mailbox_account(mailbox, password, timeout=get_settings().smtp_timeout_seconds)
    with open_smtp(account) as connection:
        yield connection
