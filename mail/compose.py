"""Build an RFC 5322 message with the stdlib: deterministic bytes, no header injection.

The same `OutgoingEmail` and date always give the same bytes (MIME boundaries derive from
the Message-ID), so a message can be rebuilt and compared after a crash.

One header guard (`_header_text`) checks every value that becomes a header, after every
decoding step: control characters, invisible format characters and every line or paragraph
separator are refused, also when an RFC 2047 encoded word hides them (the stdlib decodes
encoded words it is given and, in Python 3.11, folds a decoded CR LF as is). Then the built
message is read back (headers only): a header the builder did not set, or `To`/`Subject`
that differ from what was asked, refuse the message, whatever let them through.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import format_datetime

from core.addresses import AddressError, parse_named_address
from core.errors import HaulflowError
from core.text import ENCODED_WORD, decoded_words, excerpt, unsafe_reason

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
    _header_text("Message-ID", email.message_id)
    if not _MESSAGE_ID.fullmatch(email.message_id):
        raise InvalidMessageError(
            f"Message-ID {excerpt(email.message_id)} is not of the form <id@domain>"
        )
    subject = _header_text("Subject", email.subject)

    message = EmailMessage(policy=POLICY)
    message["From"] = _address("From", email.from_address)
    recipients = [_address("To", recipient) for recipient in email.to]
    message["To"] = recipients
    if email.reply_to is not None:
        message["Reply-To"] = _address("Reply-To", email.reply_to)
    message["Subject"] = subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = email.message_id
    extra = []
    for name, value in email.headers:
        _check_extra_header(name, value)
        message[name] = _header_text(name, value)
        extra.append(name.lower())
    placeholders = _set_body(message, email)
    for part in message.walk():
        # Parts made by add_alternative/add_attachment repeat MIME-Version; only the top needs it.
        if part is not message:
            del part["MIME-Version"]
    _set_boundaries(message, email.message_id)

    data = _with_attachments(message.as_bytes(), placeholders)
    if len(data) > max_bytes:
        raise MessageTooLargeError(_too_large(email, len(data), max_bytes))
    _verify(data, email, subject=subject, to=[r.addr_spec for r in recipients], extra=extra)
    return data


def _verify(
    data: bytes, email: OutgoingEmail, *, subject: str, to: list[str], extra: list[str]
) -> None:
    """Read the headers back: exactly those set, `To` and `Subject` as asked."""
    # The header block only: the parser would otherwise decode the whole body first.
    end = data.find(b"\r\n\r\n")
    parsed = BytesHeaderParser(policy=policy.default).parsebytes(
        data[: end + 4 if end >= 0 else None]
    )
    names = [name.lower() for name in parsed.keys()]
    expected = {"from", "to", "subject", "date", "message-id", "mime-version", *extra}
    expected |= {"content-type", "content-transfer-encoding"}
    if email.reply_to is not None:
        expected.add("reply-to")
    unexpected = sorted(set(names) - expected)
    repeated = sorted({name for name in names if names.count(name) > 1})
    sent_to = [address.addr_spec for address in getattr(parsed["To"], "addresses", ())]
    if unexpected or repeated or sent_to != to or str(parsed["Subject"]) != subject:
        raise InvalidMessageError(
            f"email {email.message_id} would not say what was asked (headers "
            f"{', '.join(unexpected + repeated) or 'as set'}; To {sent_to}): refused"
        )


def _address(header: str, value: str) -> Address:
    """One address of `header` from "Name <addr@x>", '"Name" <addr@x>' or "addr@x"."""
    _header_text(header, value)
    try:
        parsed = parse_named_address(value)
    except AddressError as error:
        raise InvalidMessageError(f"{header} address {error}") from None
    # formataddr() gives non-ASCII names as RFC 2047 encoded words; the policy re-encodes.
    name = _header_text(f"{header} name", parsed.name)
    try:
        return Address(display_name=name, addr_spec=parsed.address)
    except (ValueError, IndexError, MessageError):
        raise InvalidMessageError(
            f"{header} address {excerpt(value)} is not a valid email address"
        ) from None


def _header_text(header: str, value: str) -> str:
    """`value` as a header's text once its encoded words are decoded; refused if unsafe.

    A CR or LF (or any other line break) would let data end the header and add its own.
    """
    reason = unsafe_reason(value)
    if reason is not None:
        raise InvalidMessageError(
            f"header {header} {excerpt(value)} {reason}; header values must be a single line"
        )
    decoded = decoded_words(value)
    if decoded is None:
        return value
    if ENCODED_WORD.search(decoded):
        raise InvalidMessageError(
            f"header {header} {excerpt(value)} holds encoded words inside encoded words"
        )
    return decoded


def _check_extra_header(name: str, value: str) -> None:
    if not _FIELD_NAME.fullmatch(name):
        raise InvalidMessageError(f"extra header name {name!r} is not a valid header name")
    if name.lower() in RESERVED_HEADERS:
        raise InvalidMessageError(f"extra header {name} is set from the email itself")


def _set_body(message: EmailMessage, email: OutgoingEmail) -> dict[bytes, bytes]:
    """Set the text parts and the attachments; the attachments' placeholders (see below)."""
    if email.text and email.html:
        message.set_content(email.text)
        message.add_alternative(email.html, subtype="html")
    elif email.text:
        message.set_content(email.text)
    else:
        message.set_content(email.html or "", subtype="html")
    placeholders: dict[bytes, bytes] = {}
    for number, attachment in enumerate(email.attachments, start=1):
        maintype, subtype = _mime_type(number, attachment)
        # The stdlib encodes and writes base64 line by line in Python: 10 ms for two 100 kB
        # scans, most of a message's cost. The part gets a random one-line placeholder,
        # replaced in the bytes by the same base64 lines encoded at C speed (identical
        # output: 76 characters a line, CRLF). Random, so no body text can forge it.
        marker = f"haulflow-attachment-{secrets.token_hex(16)}".encode()
        message.add_attachment(
            marker, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
        placeholders[_base64_lines(marker)] = _base64_lines(attachment.data)
    return placeholders


def _base64_lines(data: bytes) -> bytes:
    """`data` in base64 as the stdlib writes it: lines of 76 characters, each ending CRLF."""
    encoded = base64.b64encode(data)
    return b"".join(encoded[start : start + 76] + b"\r\n" for start in range(0, len(encoded), 76))


def _with_attachments(data: bytes, placeholders: dict[bytes, bytes]) -> bytes:
    """`data` with each attachment's placeholder line replaced by its encoded content."""
    for placeholder, encoded in placeholders.items():
        if data.count(placeholder) != 1:
            raise InvalidMessageError("an attachment could not be placed in the message")
        data = data.replace(placeholder, encoded)
    return data


def _mime_type(number: int, attachment: Attachment) -> tuple[str, str]:
    where = f"attachment {number} ({attachment.filename!r})"
    _header_text(f"Content-Disposition (filename of {where})", attachment.filename)
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
