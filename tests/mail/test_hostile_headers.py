"""Header injection, tried as an attacker would: encoded words, every line separator.

Property-based: whatever text a contact name, a subject or an extra header holds, the built
message either is refused or, parsed back, has exactly the headers the builder set, the
recipients it was given and the subject it was asked for.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mail.compose import InvalidMessageError, OutgoingEmail, build_message, make_message_id

DATE = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
INJECTION = "=?utf-8?q?x=0D=0ABcc:_spy@evil.example.com?="
SEPARATORS = ["\r", "\n", "\r\n", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def email(**overrides: Any) -> OutgoingEmail:
    fields: dict[str, Any] = {
        "from_address": "Transports Test <pod@carrier.example>",
        "to": ("Jean Dupont <jean@client.example>",),
        "subject": "POD ORD-1",
        "message_id": make_message_id("task", domain="carrier.example"),
        "text": "Hello",
        "headers": (("X-Haulflow-Entity", "order:ORD-1"),),
    }
    return OutgoingEmail(**(fields | overrides))


def parse(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "x-haulflow-entity",
}


def assert_as_set(data: bytes, *, to: list[str], subject: str | None = None) -> None:
    message = parse(data)
    names = [name.lower() for name in message.keys()]
    assert set(names) <= HEADERS and len(names) == len(set(names)), names
    assert [a.addr_spec for a in message["To"].addresses] == to
    assert "bcc" not in names and "cc" not in names
    if subject is not None:
        assert str(message["Subject"]) == subject


@pytest.mark.parametrize(
    "field",
    ["to", "subject", "from_address", "headers"],
)
def test_the_encoded_word_injection_is_refused_in_every_header(field: str) -> None:
    values: dict[str, Any] = {
        "to": (f"{INJECTION} <jean@client.example>",),
        "subject": f"POD {INJECTION}",
        "from_address": f"{INJECTION} <pod@carrier.example>",
        "headers": (("X-Haulflow-Entity", f"order:{INJECTION}"),),
    }
    with pytest.raises(InvalidMessageError, match="encoded word that hides U\\+000D CARRIAGE"):
        build_message(email(**{field: values[field]}), date=DATE, max_bytes=10**7)


@pytest.mark.parametrize("separator", SEPARATORS)
def test_every_line_separator_is_refused_in_names_and_subjects(separator: str) -> None:
    for overrides in (
        {"subject": f"POD{separator}Bcc: spy@evil.example"},
        {"to": (f"Jean{separator}Bcc: spy@evil.example <jean@client.example>",)},
    ):
        with pytest.raises(InvalidMessageError, match="line break"):
            build_message(email(**overrides), date=DATE, max_bytes=10**7)


def test_a_harmless_encoded_word_is_decoded_then_encoded_again() -> None:
    data = build_message(
        email(to=("=?utf-8?q?Zo=C3=AB?= <zoe@client.example>",), subject="=?utf-8?q?caf=C3=A9?="),
        date=DATE,
        max_bytes=10**7,
    )
    message = parse(data)
    assert message["To"].addresses[0].display_name == "Zoë"
    assert str(message["Subject"]) == "café"
    assert_as_set(data, to=["zoe@client.example"], subject="café")


# Text with line breaks, controls, encoded-word syntax and unusual Unicode, spliced.
hostile_text = st.lists(
    st.one_of(
        st.text(max_size=20),
        st.sampled_from([*SEPARATORS, INJECTION, "=?", "?=", "\t", "\u200b", ":", "<", ">"]),
        st.builds(
            lambda text: f"=?utf-8?q?{text}?=",
            st.text(alphabet="abcXYZ=0D0A_:@ ", max_size=20),
        ),
    ),
    max_size=6,
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=hostile_text, subject=hostile_text, entity=hostile_text)
def test_no_built_message_has_a_header_the_builder_did_not_set(
    name: str, subject: str, entity: str
) -> None:
    try:
        data = build_message(
            email(
                to=(f"{name} <jean@client.example>", "ops@client.example"),
                subject=subject or "x",
                headers=(("X-Haulflow-Entity", entity or "x"),),
            ),
            date=DATE,
            max_bytes=10**7,
        )
    except InvalidMessageError:
        return
    assert_as_set(data, to=["jean@client.example", "ops@client.example"])
