"""The one reading of an e-mail address, for validation, storage and sending alike.

`Name <local@domain>`, `"Name, Inc." <local@domain>` or a bare `local@domain`. The address
is checked by email-validator in strict mode (RFC 5321 lengths: 64 characters before the @),
without SMTPUTF8: haulflow's SMTP client sends ASCII envelopes only, so a non-ASCII local
part (`jürgen@…`, a Cyrillic `о` in `pоd@…`) is refused with what to do, and an
internationalised domain is kept in its ASCII (IDNA) form, `müller.example` →
`xn--mller-kva.example`. The name is free text, one line, no encoded words, and not an
address itself (`ops@carrier.example <audit@carrier.example>` is refused: which one is
meant?).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.text import describe, excerpt, unsafe_reason

_NAMED = re.compile(r"(?P<name>.*?)\s*<(?P<address>[^<>]*)>", re.DOTALL)
_QUOTED = re.compile(r'"(?P<inner>(?:[^"\\]|\\.)*)"', re.DOTALL)


class AddressError(ValueError):
    """Not an address haulflow can send to; the message says why and what to do."""


@dataclass(frozen=True)
class NamedAddress:
    """A display name (maybe empty) and an ASCII address."""

    name: str
    address: str

    def __str__(self) -> str:
        return format_named(self.name, self.address)


def parse_address(text: str) -> str:
    """A bare address, checked and in its ASCII form (domain lowercased); `AddressError`."""
    reason = unsafe_reason(text)
    if reason is not None:
        raise AddressError(f"{excerpt(text)} {reason}")
    candidate = text.strip()
    # Imported here: its tables cost 40 ms at import, and most commands check no address.
    from email_validator import EmailNotValidError, validate_email

    try:
        checked = validate_email(
            candidate, check_deliverability=False, allow_smtputf8=False, strict=True
        )
    except EmailNotValidError as error:
        hint = ""
        local = candidate.rpartition("@")[0] or candidate
        foreign = next((character for character in local if not character.isascii()), None)
        if foreign is not None:
            hint = (
                f"; it holds {describe(foreign)} before the @ and haulflow sends to ASCII "
                "addresses only: ask for one without accents or look-alike letters"
            )
        reason = str(error).rstrip(".")
        raise AddressError(
            f"{excerpt(text)} is not a valid e-mail address: {reason}{hint}"
        ) from None
    return checked.ascii_email or checked.normalized


def parse_named_address(text: str) -> NamedAddress:
    """`Name <address>` or a bare address, each part checked; `AddressError` says why."""
    reason = unsafe_reason(text)
    if reason is not None:
        raise AddressError(f"{excerpt(text)} {reason}")
    match = _NAMED.fullmatch(text.strip())
    if match is None:
        if "<" in text or ">" in text:
            raise AddressError(f"{excerpt(text)}: write a named address as Name <address>")
        return NamedAddress("", parse_address(text))
    name = match["name"].strip()
    quoted = _QUOTED.fullmatch(name)
    if quoted is not None:
        name = re.sub(r"\\(.)", r"\1", quoted["inner"])
    elif '"' in name:
        raise AddressError(f"{excerpt(text)}: the name has unbalanced quotes")
    if "<" in name or ">" in name:
        raise AddressError(f"{excerpt(text)}: the name must not contain < or >")
    if "@" in name and _is_address(name):
        raise AddressError(
            f"{excerpt(text)}: the name {excerpt(name)} is an address itself; write "
            "Name <address> with one address"
        )
    return NamedAddress(name, parse_address(match["address"]))


def format_named(name: str, address: str) -> str:
    """`Name <address>`, the name quoted when it holds a character special in addresses."""
    if not name:
        return address
    if re.search(r'[()<>\[\]:;@\\,."]', name):
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}" <{address}>'
    return f"{name} <{address}>"


def shows_as_name(name: str) -> bool:
    """Whether `name` can stand before an address as its display name: no `<` or `>`, and
    not an address itself (TMS exports often fill a contact's name with its address)."""
    return not ("<" in name or ">" in name or ("@" in name and _is_address(name)))


def _is_address(text: str) -> bool:
    try:
        parse_address(text)
    except AddressError:
        return False
    return True
