"""Evaluate creation conditions (validated by `models.configuration.conditions`) on a snapshot.

Conditions are data, never code: `{all: [...]}`, `{any: [...]}` or `{field, op, value}` with
the operators eq, ne, in, not_in, gt, gte, lt, lte, contains and exists. No condition means
every entity matches.

Values come from YAML or JSON as text, numbers or booleans; each is read as the type of the
field's value before comparing: a `Decimal` for amounts, an aware datetime for dates (an ISO
text without an offset is local to the entity's timezone, a date alone is its midnight), and
text as written (`fr` is not `FR`; `contains` is case-sensitive too). A missing value equals
nothing: `eq`, `in`, ordering and `contains` are false, `ne` and `not_in` true; `exists`
tests it (`exists` without a value means `true`). A value that cannot be read as the field's
type matches nothing, so a bad condition creates no task rather than every task.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


class _Unreadable:
    """A configured value that cannot be read as the field's type; equal to nothing."""


_UNREADABLE = _Unreadable()


def matches(
    condition: Mapping[str, Any] | None, fields: Mapping[str, Any], *, timezone: str = "UTC"
) -> bool:
    """Whether `fields` (catalog path -> value) satisfy `condition`; None always does."""
    if condition is None:
        return True
    if "all" in condition:
        return all(matches(child, fields, timezone=timezone) for child in condition["all"])
    if "any" in condition:
        return any(matches(child, fields, timezone=timezone) for child in condition["any"])
    return _compare(
        fields.get(condition["field"]), condition["op"], condition.get("value"), timezone
    )


def _compare(actual: Any, op: str, value: Any, timezone: str) -> bool:
    if op == "exists":
        return (actual is not None) is (value is None or value is True)
    if actual is None:
        return op in ("ne", "not_in")
    if op in ("in", "not_in"):
        items = value if isinstance(value, list) else [value]
        found = any(actual == read_value(item, actual, timezone) for item in items)
        return found if op == "in" else not found
    if op == "contains":
        return isinstance(actual, str) and isinstance(value, str) and value in actual
    expected = read_value(value, actual, timezone)
    if expected is _UNREADABLE:
        return False
    if op == "eq":
        return bool(actual == expected)
    if op == "ne":
        return bool(actual != expected)
    return _ORDERING[op](actual, expected)


def read_value(value: Any, like: Any, timezone: str) -> Any:
    """`value` as written in the configuration, read as the type of the field value `like`."""
    if isinstance(like, bool):
        return value if isinstance(value, bool) else _UNREADABLE
    if isinstance(value, bool):
        # YAML's NO/yes/on/off: a boolean never stands for a number, a date or a text.
        return _UNREADABLE
    if isinstance(like, Decimal):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return _UNREADABLE
        return number if number.is_finite() else _UNREADABLE
    if isinstance(like, datetime):
        return _read_datetime(value, timezone)
    if isinstance(like, str):
        return value if isinstance(value, str) else _UNREADABLE
    return value


def _read_datetime(value: Any, timezone: str) -> Any:
    if not isinstance(value, str):
        return _UNREADABLE
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return _UNREADABLE
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=ZoneInfo(timezone))
