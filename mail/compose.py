"""Build an RFC 5322 message with the stdlib: deterministic bytes, no header injection.

The same `OutgoingEmail` and date always give the same bytes (MIME boundaries derive from
the Message-ID), so a message can be rebuilt and compared after a crash.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.errors import MessageError
from email.header import decode_header, make_header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from core.errors import HaulflowError

# smtplib sends bytes without BODY=8BITMIME, so every body part must be 7-bit clean:
# non-ASCII text becomes quoted-printable or base64 instead of raw 8-bit.
POLICY = policy.SMTP.clone(cte_type="7bit")
# Set from the email's own fields; an extra header may not replace or add to them.
RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "sender",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
    }
)
_FIELD_NAME = re.compile(r"[!-9;-~]+")  # printable ASCII except ":" (RFC 5322 field-name)
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")
_MESSAGE_ID = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
_NAME_ADDR = re.compile(r"(?P<name>.*?)\s*<(?P<addr>[^<>]*)>\s*", re.DOTALL)
_MIME_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*", re.IGNORECASE)


@dataclass(frozen=True)
class Attachment:
    """A document attached under `filename` with its MIME type."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class OutgoingEmail:
    """Everything a message says; addresses are "Name <addr@x>" or bare "addr@x"."""

    from_address: str
    to: tuple[str, ...]
    subject: str
    message_id: str
    text: str | None = None
    html: str | None = None
    reply_to: str | None = None
    attachments: tuple[Attachment, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()


class MessageTooLargeError(HaulflowError):
    """The built message exceeds the mailbox's size limit."""


class InvalidMessageError(HaulflowError):
    """A header value with a line break, no body, no recipient or a malformed address."""


def make_message_id(*parts: str, domain: str) -> str:
    """Deterministic '<hex@domain>': the same parts always give the same id."""
    if not parts:
        raise ValueError("make_message_id needs at least one part")
    host = domain.strip().lower()
    if not _HOSTNAME.fullmatch(host):
        raise InvalidMessageError(
            f"Message-ID domain {domain!r} is not a host name: "
            "give the mailbox a from address with a valid domain"
        )
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{host}>"


def build_message(email: OutgoingEmail, *, date: datetime, max_bytes: int) -> bytes:
    """The message as bytes ready for SMTP (CRLF line ends)."""
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError("build_message needs an aware date")
    if not email.to:
        raise InvalidMessageError(f"email {email.message_id} has no recipient")
    if not (email.text or email.html):
        raise InvalidMessageError(f"email {email.message_id} has no body (neither text nor html)")
    _check_line_breaks("Message-ID", email.message_id)
    if not _MESSAGE_ID.fullmatch(email.message_id):
        raise InvalidMessageError(f"Message-ID {email.message_id!r} is not of the form <id@domain>")
    _check_line_breaks("Subject", email.subject)

    message = EmailMessage(policy=POLICY)
    message["From"] = _address("From", email.from_address)
    message["To"] = [_address("To", recipient) for recipient in email.to]
    if email.reply_to is not None:
        message["Reply-To"] = _address("Reply-To", email.reply_to)
    message["Subject"] = email.subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = email.message_id
    for name, value in email.headers:
        _check_extra_header(name, value)
        message[name] = value
    _set_body(message, email)
    for part in message.walk():
        # Parts made by add_alternative/add_attachment repeat MIME-Version; only the top needs it.
        if part is not message:
            del part["MIME-Version"]
    _set_boundaries(message, email.message_id)

    data = message.as_bytes()
    if len(data) > max_bytes:
        raise MessageTooLargeError(_too_large(email, len(data), max_bytes))
    return data


def _address(header: str, value: str) -> Address:
    """One address of `header` from "Name <addr@x>", '"Name" <addr@x>' or "addr@x"."""
    _check_line_breaks(header, value)
    match = _NAME_ADDR.fullmatch(value.strip())
    name, addr_spec = (match["name"].strip(), match["addr"].strip()) if match else ("", value)
    addr_spec = addr_spec.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = re.sub(r"\\(.)", r"\1", name[1:-1])
    elif "=?" in name:
        # formataddr() gives non-ASCII names as RFC 2047 encoded words; the policy re-encodes.
        name = str(make_header(decode_header(name)))
    invalid = f"{header} address {value!r} is not a valid email address"
    if not addr_spec.isascii():
        raise InvalidMessageError(f"{invalid} (non-ASCII addresses are not supported)")
    try:
        address = Address(display_name=name, addr_spec=addr_spec)
    except (ValueError, IndexError, MessageError):
        raise InvalidMessageError(invalid) from None
    if not address.username or not address.domain:
        raise InvalidMessageError(invalid)
    return address


def _check_line_breaks(header: str, value: str) -> None:
    # A CR or LF would let data end the header and add its own (e.g. a Bcc).
    if "\r" in value or "\n" in value:
        raise InvalidMessageError(
            f"header {header} contains a line break (CR or LF): {value!r}; "
            "header values must be a single line"
        )


def _check_extra_header(name: str, value: str) -> None:
    if not _FIELD_NAME.fullmatch(name):
        raise InvalidMessageError(f"extra header name {name!r} is not a valid header name")
    if name.lower() in RESERVED_HEADERS:
        raise InvalidMessageError(f"extra header {name} is set from the email itself")
    _check_line_breaks(name, value)


def _set_body(message: EmailMessage, email: OutgoingEmail) -> None:
    if email.text and email.html:
        message.set_content(email.text)
        message.add_alternative(email.html, subtype="html")
    elif email.text:
        message.set_content(email.text)
    else:
        message.set_content(email.html or "", subtype="html")
    for number, attachment in enumerate(email.attachments, start=1):
        maintype, subtype = _mime_type(number, attachment)
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )


def _mime_type(number: int, attachment: Attachment) -> tuple[str, str]:
    where = f"attachment {number} ({attachment.filename!r})"
    _check_line_breaks(f"Content-Disposition (filename of {where})", attachment.filename)
    if not attachment.filename.strip():
        raise InvalidMessageError(f"{where} has no file name")
    content_type = attachment.content_type.lower()
    if not _MIME_TYPE.fullmatch(content_type) or content_type.startswith("multipart/"):
        raise InvalidMessageError(
            f"{where} has content type {attachment.content_type!r}, not a MIME type "
            "such as application/pdf"
        )
    maintype, _, subtype = content_type.partition("/")
    return maintype, subtype


def _set_boundaries(message: EmailMessage, message_id: str) -> None:
    # The generator would pick random boundaries; derived ones make the bytes reproducible.
    bodies = [str(part.get_payload()) for part in message.walk() if not part.is_multipart()]
    multiparts = [part for part in message.walk() if part.is_multipart()]
    for level, part in enumerate(multiparts):
        attempt = 0
        while True:
            seed = f"{message_id}\x1f{level}\x1f{attempt}".encode()
            boundary = f"=_haulflow_{hashlib.sha256(seed).hexdigest()[:24]}"
            # Only a 7bit body could contain it by chance or on purpose; base64 and QP cannot.
            if not any(boundary in body for body in bodies):
                break
            attempt += 1
        part.set_boundary(boundary)


def _too_large(email: OutgoingEmail, size: int, max_bytes: int) -> str:
    parts = ", ".join(
        f"{attachment.filename} ({_human(len(attachment.data))})"
        for attachment in email.attachments
    )
    made_of = f"attachments: {parts}" if parts else "no attachments"
    return (
        f"email {email.message_id} is {_human(size)} ({size} bytes), over the mailbox limit of "
        f"{_human(max_bytes)} ({max_bytes} bytes); {made_of} (encoding adds about a third); "
        "raise max_message_bytes of the mailbox or send fewer/smaller documents"
    )


def _human(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    if size >= 1_000:
        return f"{size / 1_000:.1f} kB"
    return f"{size} B"
