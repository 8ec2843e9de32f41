"""Building messages: structure, encodings, determinism, injection and size limits."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formataddr
from typing import Any

import pytest

from mail.compose import (
    Attachment,
    InvalidMessageError,
    MessageTooLargeError,
    OutgoingEmail,
    build_message,
    make_message_id,
)

DATE = datetime(2025, 3, 14, 9, 26, 53, tzinfo=timezone(timedelta(hours=1)))
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(255, -1, -1)) * 10


def make_email(**overrides: Any) -> OutgoingEmail:
    fields: dict[str, Any] = {
        "from_address": "Transports Müller <dispatch@muller-transports.example>",
        "to": ('"Dupont, Jean" <jean@client.example>', "ops@client.example"),
        "subject": "POD commande n° 4711 — livrée",
        "message_id": make_message_id("task-1", "all", domain="muller-transports.example"),
        "text": "Bonjour,\n\nveuillez trouver le POD ci-joint.\n",
        "html": "<p>Bonjour,</p><p>veuillez trouver le POD ci-joint.</p>",
        "reply_to": "Desk <desk@muller-transports.example>",
        "attachments": (
            Attachment("4711-pod.pdf", "application/pdf", PDF),
            Attachment("Lieferschein Größe.jpg", "image/jpeg", JPEG),
        ),
        "headers": (("X-Haulflow-Task", "task-1"), ("Auto-Submitted", "auto-generated")),
    }
    return OutgoingEmail(**(fields | overrides))


def parse(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def build(email: OutgoingEmail, max_bytes: int = 10_000_000) -> bytes:
    return build_message(email, date=DATE, max_bytes=max_bytes)


def test_text_html_and_attachments_round_trip() -> None:
    email = make_email()

    message = parse(build(email))

    assert message.get_content_type() == "multipart/mixed"
    assert message["Subject"] == "POD commande n° 4711 — livrée"
    assert message["Message-ID"] == email.message_id
    assert message["Date"] == "Fri, 14 Mar 2025 09:26:53 +0100"
    assert message["X-Haulflow-Task"] == "task-1"
    assert message["Auto-Submitted"] == "auto-generated"
    (sender,) = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (
        "Transports Müller",
        "dispatch@muller-transports.example",
    )
    assert [(a.display_name, a.addr_spec) for a in message["To"].addresses] == [
        ("Dupont, Jean", "jean@client.example"),
        ("", "ops@client.example"),
    ]
    assert message["Reply-To"].addresses[0].addr_spec == "desk@muller-transports.example"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and body.get_content().replace("\r\n", "\n") == email.text
    html = message.get_body(preferencelist=("html",))
    assert html is not None and html.get_content().strip() == email.html
    attachments = [
        (part.get_filename(), part.get_content_type(), part.get_content())
        for part in message.iter_attachments()
    ]
    assert attachments == [
        ("4711-pod.pdf", "application/pdf", PDF),
        ("Lieferschein Größe.jpg", "image/jpeg", JPEG),
    ]


def test_the_bytes_are_ascii_with_crlf_line_ends_and_one_mime_version() -> None:
    data = build(make_email())

    assert data.isascii()
    lines = data.split(b"\r\n")
    assert not any(b"\n" in line or b"\r" in line for line in lines)
    assert max(len(line) for line in lines) <= 78
    assert data.count(b"MIME-Version:") == 1


def test_text_only_and_html_only_are_single_parts() -> None:
    text_only = parse(build(make_email(html=None, attachments=())))
    html_only = parse(build(make_email(text=None, attachments=())))

    assert text_only.get_content_type() == "text/plain"
    assert html_only.get_content_type() == "text/html"
    assert text_only.get_content_charset() == "utf-8"


def test_the_same_email_gives_the_same_bytes() -> None:
    first = build(make_email())
    second = build(make_email())
    other = build(make_email(message_id=make_message_id("task-2", domain="x.example")))

    assert first == second
    assert _boundaries(first) != _boundaries(other)


def test_a_body_holding_the_boundary_gets_another_one() -> None:
    email = make_email(html=None, attachments=(Attachment("a.txt", "text/plain", b"a"),))
    (boundary,) = _boundaries(build(email))
    tricky = dataclasses.replace(email, text=f"--{boundary}\nContent-Type: text/html\n\nboo\n")

    message = parse(build(tricky))

    assert _boundaries(build(tricky)) != [boundary]
    assert [part.get_content_type() for part in message.walk()] == [
        "multipart/mixed",
        "text/plain",
        "text/plain",
    ]


def test_addresses_from_formataddr_with_non_ascii_names_keep_their_names() -> None:
    email = make_email(
        from_address=formataddr(("Société Générale, Fret", "fret@sg.example")),
        to=(formataddr(("Zoë O'Brien", "zoe@client.example")),),
    )

    message = parse(build(email))

    assert message["From"].addresses[0].display_name == "Société Générale, Fret"
    assert message["To"].addresses[0].display_name == "Zoë O'Brien"


@pytest.mark.parametrize(
    ("field", "value", "header"),
    [
        ("subject", "POD\r\nBcc: victim@evil.example", "Subject"),
        ("subject", "POD\nBcc: victim@evil.example", "Subject"),
        ("from_address", "Evil\rBcc: x@evil.example <a@b.example>", "From"),
        ("to", ("Jean\n <jean@client.example>",), "To"),
        ("reply_to", "desk@b.example\r\nX-Evil: 1", "Reply-To"),
        ("headers", (("X-Haulflow-Task", "1\r\nBcc: victim@evil.example"),), "X-Haulflow-Task"),
        ("attachments", (Attachment("a\r\n.pdf", "application/pdf", b"x"),), "Content-Disp"),
        ("message_id", "<a@b>\r\nBcc: victim@evil.example", "Message-ID"),
    ],
)
def test_a_line_break_in_any_header_value_is_refused(field: str, value: Any, header: str) -> None:
    with pytest.raises(InvalidMessageError, match=rf"header {header}.*line break"):
        build(make_email(**{field: value}))


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ((("Bcc", "victim@evil.example"),), "set from the email itself"),
        ((("content-type", "text/html"),), "set from the email itself"),
        ((("X-A: b", "c"),), "not a valid header name"),
        ((("X A", "c"),), "not a valid header name"),
    ],
)
def test_extra_headers_cannot_replace_the_structure(
    headers: tuple[tuple[str, str], ...], problem: str
) -> None:
    with pytest.raises(InvalidMessageError, match=problem):
        build(make_email(headers=headers))


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"to": ()}, "no recipient"),
        ({"text": None, "html": None}, "no body"),
        ({"text": "", "html": None}, "no body"),
        ({"to": ("not an address",)}, "To address 'not an address' is not a valid"),
        ({"to": ("a@b@c.example",)}, "not a valid"),
        ({"from_address": "Name <missing-domain@>"}, "From address"),
        ({"reply_to": "jürgen@client.example"}, "ASCII addresses only"),
        ({"message_id": "no-angle@x.example"}, "Message-ID"),
        ({"attachments": (Attachment("a.pdf", "pdf", b"x"),)}, "not a MIME type"),
        ({"attachments": (Attachment("a", "multipart/mixed", b"x"),)}, "not a MIME type"),
        ({"attachments": (Attachment(" ", "application/pdf", b"x"),)}, "no file name"),
    ],
)
def test_malformed_emails_are_refused(overrides: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidMessageError, match=re.escape(problem)):
        build(make_email(**overrides))


def test_a_naive_date_is_a_bug() -> None:
    with pytest.raises(ValueError, match="aware"):
        build_message(make_email(), date=datetime(2025, 1, 1), max_bytes=10_000_000)


def test_too_large_says_the_size_the_limit_the_documents_and_what_to_do() -> None:
    size = len(build(make_email()))

    assert build(make_email(), max_bytes=size) is not None
    with pytest.raises(MessageTooLargeError) as raised:
        build(make_email(), max_bytes=size - 1)

    text = str(raised.value)
    assert f"({size} bytes)" in text
    assert f"({size - 1} bytes)" in text
    assert "4711-pod.pdf (10.2 kB)" in text
    assert "Lieferschein Größe.jpg (2.6 kB)" in text
    assert "raise max_message_bytes of the mailbox or send fewer/smaller documents" in text


def test_message_ids_are_deterministic_and_depend_on_every_part() -> None:
    first = make_message_id("task-1", "party:a", "sha-1", domain="Muller-Transports.EXAMPLE")

    assert first == make_message_id(
        "task-1", "party:a", "sha-1", domain="muller-transports.example"
    )
    assert re.fullmatch(r"<[0-9a-f]{32}@muller-transports\.example>", first)
    assert first != make_message_id(
        "task-1", "party:a", "sha-2", domain="muller-transports.example"
    )
    assert first != make_message_id("task-1", "party:a", domain="muller-transports.example")
    # The separator keeps part boundaries: ("ab", "c") is not ("a", "bc").
    assert make_message_id("ab", "c", domain="x.example") != make_message_id(
        "a", "bc", domain="x.example"
    )


@pytest.mark.parametrize("domain", ["", "bad domain", "x..example", "-x.example", "a@b", "é.fr"])
def test_a_message_id_domain_must_be_a_host_name(domain: str) -> None:
    with pytest.raises(InvalidMessageError, match="not a host name"):
        make_message_id("task-1", domain=domain)


def test_utc_dates_are_written_with_their_offset() -> None:
    message = parse(build_message(make_email(), date=DATE.astimezone(UTC), max_bytes=10**7))

    assert message["Date"] == "Fri, 14 Mar 2025 08:26:53 +0000"


def _boundaries(data: bytes) -> list[str]:
    return re.findall(r'boundary="([^"]+)"', data.decode("ascii"))
