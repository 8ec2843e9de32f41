"""Constrained values of the configuration file: keys, addresses, languages, offsets, secrets."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BeforeValidator, PlainSerializer

from core.codes import LANGUAGE_CODE

_SLUG = re.compile(r"[a-z0-9][a-z0-9-]*")
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
_SECRET = re.compile(r"[A-Z_][A-Z0-9_]*|prefect-block:[a-z0-9][a-z0-9-]*")
_DISPLAY_ADDRESS = re.compile(r"(?P<name>[^<>]*?)\s*<(?P<address>[^<>]*)>")
_OFFSET = re.compile(
    r"(?P<sign>[+-])?\s*(?:(?P<days>\d+)\s*d)?\s*(?:(?P<hours>\d+)\s*h)?\s*(?:(?P<minutes>\d+)\s*m)?"
)


def check_slug(value: str) -> str:
    """Keys name things in URLs, artifacts and the CLI, so they stay lowercase slugs."""
    if not _SLUG.fullmatch(value):
        raise ValueError(
            f"'{value}' is not a valid key: use lowercase letters, digits and dashes, "
            "starting with a letter or digit (e.g. 'send-pod')"
        )
    return value


def check_username(value: str) -> str:
    """Usernames are slugs that may also contain dots and underscores (`j.dupont`)."""
    if not _USERNAME.fullmatch(value):
        raise ValueError(
            f"'{value}' is not a valid username: use lowercase letters, digits, '.', '_' and '-'"
        )
    return value


def check_language(value: str) -> str:
    """Language codes are ISO 639-1, optionally with a region: `fr`, `nl-BE`."""
    if not LANGUAGE_CODE.fullmatch(value):
        raise ValueError(
            f"'{value}' is not a language code: write two lowercase letters, optionally "
            "followed by a region (e.g. 'fr', 'nl', 'nl-BE')"
        )
    return value


def _reject_line_breaks(value: str) -> None:
    # A CR or LF inside an address would let the file inject extra e-mail headers.
    if "\r" in value or "\n" in value:
        raise ValueError("contains a line break; an address must be on one line")


def _check_mailbox_address(address: str, original: str) -> None:
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(f"'{original}' is not a valid e-mail address: {error}") from None


def check_address(value: str) -> str:
    """A bare e-mail address: `pod@carrier.example`."""
    _reject_line_breaks(value)
    value = value.strip()
    _check_mailbox_address(value, value)
    return value


def check_named_address(value: str) -> str:
    """An address with an optional display name: `Transports Martin <pod@carrier.example>`."""
    _reject_line_breaks(value)
    value = value.strip()
    match = _DISPLAY_ADDRESS.fullmatch(value)
    if match is None:
        _check_mailbox_address(value, value)
        return value
    if any(character in match["name"] for character in ',;"'):
        raise ValueError(f"'{value}': the name before <...> must not contain , ; or quotes")
    _check_mailbox_address(match["address"], value)
    return value


def check_secret_reference(value: str) -> str:
    """A secret is referenced by name only; the message never repeats the value."""
    if not _SECRET.fullmatch(value):
        raise ValueError(
            "must name where the password is kept, not contain it: an environment variable "
            "(uppercase letters, digits, '_', e.g. SMTP_POD_PASSWORD) or 'prefect-block:NAME'"
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
        raise ValueError(f"{value!r} is not an offset: {hint}")
    text = value.strip()
    match = _OFFSET.fullmatch(text)
    if text == "0":
        return dt.timedelta()
    if match is None or not any(match[unit] for unit in ("days", "hours", "minutes")):
        raise ValueError(f"'{value}' is not an offset: {hint}")
    try:
        delta = dt.timedelta(
            days=int(match["days"] or 0),
            hours=int(match["hours"] or 0),
            minutes=int(match["minutes"] or 0),
        )
    except OverflowError:
        raise ValueError(f"'{value}' is too large an offset") from None
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
