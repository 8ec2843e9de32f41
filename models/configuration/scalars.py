"""Constrained values of the configuration file: keys, addresses, languages, offsets, secrets."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, PlainSerializer

from core.addresses import AddressError, parse_address, parse_named_address
from core.codes import LANGUAGE_CODE
from core.text import excerpt

_SLUG = re.compile(r"[a-z0-9][a-z0-9-]*")
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
# Environment variables named SMTP_*: a mailbox cannot make haulflow send another setting
# (HAULFLOW_DATABASE_URL, AWS_SECRET_ACCESS_KEY...) to its SMTP server as a password.
SECRET_REFERENCE = re.compile(r"SMTP_[A-Z0-9_]+|prefect-block:[a-z0-9][a-z0-9-]*")
_OFFSET = re.compile(
    r"(?P<sign>[+-])?\s*(?:(?P<days>\d+)\s*d)?\s*(?:(?P<hours>\d+)\s*h)?\s*(?:(?P<minutes>\d+)\s*m)?"
)


def check_slug(value: str) -> str:
    """Keys name things in URLs, artifacts and the CLI, so they stay lowercase slugs."""
    if not _SLUG.fullmatch(value):
        raise ValueError(
            f"{excerpt(value)} is not a valid key: use lowercase letters, digits and dashes, "
            "starting with a letter or digit (e.g. 'send-pod')"
        )
    return value


def check_username(value: str) -> str:
    """Usernames are slugs that may also contain dots and underscores (`j.dupont`)."""
    if not _USERNAME.fullmatch(value):
        raise ValueError(
            f"{excerpt(value)} is not a valid username: use lowercase letters, digits, "
            "'.', '_' and '-'"
        )
    return value


def check_language(value: str) -> str:
    """Language codes are ISO 639-1, optionally with a region: `fr`, `nl-BE`."""
    if not LANGUAGE_CODE.fullmatch(value):
        raise ValueError(
            f"{excerpt(value)} is not a language code: write two lowercase letters, optionally "
            "followed by a region (e.g. 'fr', 'nl', 'nl-BE')"
        )
    return value


def check_address(value: str) -> str:
    """A bare e-mail address: `pod@carrier.example` (`core.addresses`, its ASCII form)."""
    try:
        return parse_address(value)
    except AddressError as error:
        raise ValueError(str(error)) from None


def check_named_address(value: str) -> str:
    """An address with an optional display name: `Transports Martin <pod@carrier.example>`.

    Stored in its canonical form, the one `core.addresses` reads back when sending.
    """
    try:
        return str(parse_named_address(value))
    except AddressError as error:
        raise ValueError(str(error)) from None


def check_secret_reference(value: str) -> str:
    """A secret is referenced by name only; the message never repeats the value."""
    if not SECRET_REFERENCE.fullmatch(value):
        raise ValueError(
            "must name where the password is kept, not contain it: an environment variable "
            "named SMTP_... (uppercase letters, digits, '_', e.g. SMTP_POD_PASSWORD) or "
            "'prefect-block:NAME'"
        )
    return value


def parse_offset(value: object) -> object:
    """Turn '-3d', '+2h', '+30m', '1d2h' or 0 into a timedelta; leave other types to pydantic."""
    if isinstance(value, dt.timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value == 0:
        return dt.timedelta()
    hint = "write a signed duration such as '-3d', '+2h', '+30m' or '1d2h'"
    if not isinstance(value, str):
        raise ValueError(f"{excerpt(value)} is not an offset: {hint}")
    text = value.strip()
    match = _OFFSET.fullmatch(text)
    if text == "0":
        return dt.timedelta()
    if match is None or not any(match[unit] for unit in ("days", "hours", "minutes")):
        raise ValueError(f"{excerpt(value)} is not an offset: {hint}")
    try:
        delta = dt.timedelta(
            days=int(match["days"] or 0),
            hours=int(match["hours"] or 0),
            minutes=int(match["minutes"] or 0),
        )
    except OverflowError:
        raise ValueError(f"{excerpt(value)} is too large an offset") from None
    return -delta if match["sign"] == "-" else delta


def format_offset(delta: dt.timedelta) -> str:
    """The canonical text of an offset: '-3d', '+1d2h', '0'."""
    if not delta:
        return "0"
    sign = "-" if delta < dt.timedelta() else "+"
    minutes = abs(delta) // dt.timedelta(minutes=1)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{amount}{unit}" for amount, unit in ((days, "d"), (hours, "h"), (minutes, "m"))]
    return sign + "".join(part for part in parts if not part.startswith("0"))


Slug = Annotated[str, AfterValidator(check_slug)]
Username = Annotated[str, AfterValidator(check_username)]
LanguageCode = Annotated[str, AfterValidator(check_language)]
Address = Annotated[str, AfterValidator(check_address)]
NamedAddress = Annotated[str, AfterValidator(check_named_address)]
SecretReference = Annotated[str, AfterValidator(check_secret_reference)]
Offset = Annotated[
    dt.timedelta,
    BeforeValidator(parse_offset),
    PlainSerializer(format_offset, return_type=str),
]
