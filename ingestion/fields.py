"""Value types of the import file: each checks one kind of value and says how to fix it."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from core.addresses import AddressError, parse_address
from core.codes import COUNTRY_CODES, LANGUAGE_CODE
from core.suggestions import did_you_mean
from core.text import excerpt, normalize_reference, unsafe_reason
from models.base import REFERENCE_LENGTH

# The error type of every message written here; the problem formatter prints it as is.
ERROR_TYPE = "haulflow"

_CURRENCY = re.compile(r"[A-Z]{3}")
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")
_ROLE = re.compile(r"[a-z0-9][a-z0-9-]*")


def fail(message: str) -> PydanticCustomError:
    """A validation error whose message is shown to the user verbatim."""
    return PydanticCustomError(ERROR_TYPE, message)


def check_single_line(value: str) -> str:
    """One line of visible text (NFKC): every text of the file ends up on one line of a page
    or an e-mail header, so no line separator, control or invisible character, also not
    hidden in an RFC 2047 encoded word."""
    normalized = unicodedata.normalize("NFKC", value)
    reason = unsafe_reason(normalized)
    if reason is not None:
        raise fail(f"{excerpt(value)} {reason}")
    return normalized


def check_reference(value: str) -> str:
    """A carrier's reference: NFKC, ASCII; a look-alike or invisible character is refused."""
    try:
        return normalize_reference(value)
    except ValueError as error:
        # Messages start with the field's name (`customer: …`): no second "reference".
        raise fail(str(error).removeprefix("reference ")) from None


def check_country(value: str) -> str:
    """An ISO 3166-1 alpha-2 code in capitals, such as FR, BE or NL."""
    codes = COUNTRY_CODES
    if value in codes:
        return value
    if value.upper() in codes:
        hint = f"; did you mean '{value.upper()}'?"
    elif value.upper() == "UK":  # the usual slip: ISO names the United Kingdom GB
        hint = "; did you mean 'GB'?"
    else:
        hint = did_you_mean(value, codes)
    raise fail(f"{excerpt(value)} is not an ISO 3166 country code such as FR, BE or NL{hint}")


def check_language(value: str) -> str:
    """A two-letter language code, optionally with a region: fr, nl, fr-BE."""
    if LANGUAGE_CODE.fullmatch(value):
        return value
    fixed = value[:2].lower() + value[2:].upper()
    hint = f"; did you mean '{fixed}'?" if LANGUAGE_CODE.fullmatch(fixed) else ""
    raise fail(f"{excerpt(value)} is not a language code such as fr, en, nl, de or fr-BE{hint}")


def check_currency(value: str) -> str:
    """Three capital letters (ISO 4217): EUR, GBP, CHF."""
    if _CURRENCY.fullmatch(value):
        return value
    raise fail(f"{excerpt(value)} is not a currency code such as EUR, GBP or CHF")


def check_timezone(value: str) -> str:
    """A tz database name such as Europe/Paris."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        hint = did_you_mean(value, available_timezones())
        raise fail(f"{excerpt(value)} is not a timezone such as Europe/Paris{hint}") from None
    return value


def normalize_email(value: str) -> str:
    """A valid address (`core.addresses`), lowercased so the same person is matched once."""
    try:
        return parse_address(value).lower()
    except AddressError as error:
        raise fail(str(error)) from None


def check_username(value: str) -> str:
    """Letters, digits and . _ @ - only, so a username can be typed in a command."""
    if _USERNAME.fullmatch(value):
        return value
    raise fail(f"{excerpt(value)} is not a username: use letters, digits and . _ @ - only")


def check_role_key(value: str) -> str:
    """A role key as configuration writes it: lowercase words joined by dashes."""
    if _ROLE.fullmatch(value):
        return value
    raise fail(f"{excerpt(value)} is not a role key such as operations or cmr-pod-processing")


def parse_timestamp(value: Any) -> Any:
    """An ISO 8601 date-time, kept naive when it has no offset (local to its party)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise fail(f"{excerpt(value)} is not a date-time; write it like 2026-12-01T08:00")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise fail(
            f"{excerpt(value)} is not an ISO 8601 date-time such as 2026-12-01T08:00 "
            "(local time) or 2026-12-01T08:00+01:00"
        ) from None


_OneLine = AfterValidator(check_single_line)

# Codes are checked by their validator alone, so a wrong length gets the helpful message too.
# A reference names an entity or party of haulflow (ORD-1001, ACME); an external reference
# is the party's own number, any one-line text.
Reference = Annotated[
    str, Field(min_length=1, max_length=REFERENCE_LENGTH), AfterValidator(check_reference)
]
ExternalReference = Annotated[str, Field(min_length=1, max_length=64), _OneLine]
Name = Annotated[str, Field(min_length=1, max_length=200), _OneLine]
Text100 = Annotated[str, Field(min_length=1, max_length=100), _OneLine]
Username = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(check_username)]
RoleKey = Annotated[str, Field(min_length=1, max_length=40), AfterValidator(check_role_key)]
Country = Annotated[str, _OneLine, AfterValidator(check_country)]
Language = Annotated[str, _OneLine, AfterValidator(check_language)]
Currency = Annotated[str, _OneLine, AfterValidator(check_currency)]
TimezoneName = Annotated[str, _OneLine, AfterValidator(check_timezone)]
Email = Annotated[str, Field(max_length=254), _OneLine, AfterValidator(normalize_email)]
Timestamp = Annotated[datetime, BeforeValidator(parse_timestamp)]
Amount = Annotated[Decimal, Field(max_digits=14, decimal_places=2, allow_inf_nan=False)]
