"""Check creation conditions against the fields of their category (see `catalog.py`).

Conditions are data, never code: a field path, an operator and a value whose type must suit
the field. This module says what is wrong with one; evaluating them is the generator's job.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from core.codes import COUNTRY_CODES
from core.sourcefile import Loc
from core.text import excerpt
from models.configuration.catalog import CategorySpec, FieldSpec, FieldType
from models.configuration.messages import did_you_mean
from models.configuration.scalars import check_language
from models.configuration.schema import Condition

Finding = tuple[Loc, str]

ORDERING_OPERATORS = frozenset({"gt", "gte", "lt", "lte"})
ORDERED_TYPES = frozenset({FieldType.DECIMAL, FieldType.DATETIME})


def value_problem(field: FieldSpec, value: Any) -> str | None:
    """Why `value` cannot be compared with `field`, or None when it can."""
    name = f"field '{field.path}' ({field.type.value})"
    if isinstance(value, bool) and field.type is not FieldType.BOOL:
        # YAML 1.1 reads NO (Norway), yes, on and off as booleans unless they are quoted.
        return (
            f"{name} does not take {excerpt(value)}; YAML reads NO, yes, on and off as true/false, "
            "so put the value in quotes"
        )
    if field.type is FieldType.BOOL:
        return (
            None if isinstance(value, bool) else f"{name} takes true or false, not {excerpt(value)}"
        )
    if field.type is FieldType.DECIMAL:
        return None if _is_decimal(value) else f"{name} takes a number, not {excerpt(value)}"
    if not isinstance(value, str):
        return f"{name} takes text, not {excerpt(value)}; put the value in quotes"
    if field.type is FieldType.DATETIME and not _is_datetime(value):
        example = "'2025-03-14' or '2025-03-14T09:00:00+01:00'"
        return f"{name} takes an ISO date or date-time (e.g. {example}), not {excerpt(value)}"
    if field.type is FieldType.COUNTRY and value not in COUNTRY_CODES:
        return f"{name}: {excerpt(value)} is not an ISO 3166 country code (e.g. 'FR', 'BE', 'GB')"
    if field.type is FieldType.LANGUAGE:
        try:
            check_language(value)
        except ValueError as error:
            return f"{name}: {error}"
    if field.type is FieldType.ENUM and value not in field.choices:
        return (
            f"{name}: {excerpt(value)} is not a possible value{did_you_mean(value, field.choices)}"
        )
    return None


def _is_decimal(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    try:
        return isinstance(value, str) and Decimal(value).is_finite()
    except InvalidOperation:
        return False


def _is_datetime(value: str) -> bool:
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def condition_findings(raw: Any, spec: CategorySpec, loc: Loc) -> list[Finding]:
    """Every problem of a (possibly nested) condition as written, each at its own path.

    Works on the raw data so that one malformed comparison, which the schema reports, does not
    hide the problems of its siblings.
    """
    if isinstance(raw, dict) and len(raw) == 1 and isinstance(raw.get("all", raw.get("any")), list):
        name = next(iter(raw))
        return [
            finding
            for index, child in enumerate(raw[name])
            for finding in condition_findings(child, spec, (*loc, name, index))
        ]
    try:
        condition = Condition.model_validate(raw)
    except ValidationError:
        return []
    if condition.field is None or condition.op is None:
        return []
    field = spec.field(condition.field)
    if field is None:
        hint = did_you_mean(condition.field, spec.field_paths)
        return [((*loc, "field"), f"{spec.section} have no field '{condition.field}'{hint}")]
    return _operator_findings(field, condition.op, condition.value, (*loc, "value"))


def _operator_findings(field: FieldSpec, op: str, value: Any, loc: Loc) -> list[Finding]:
    if op in ORDERING_OPERATORS and field.type not in ORDERED_TYPES:
        return [
            (
                loc[:-1] + ("op",),
                f"operator '{op}' compares numbers and dates; field '{field.path}' is "
                f"{field.type.value}: use eq, ne, in or not_in",
            )
        ]
    if op == "contains" and field.type is not FieldType.STR:
        message = f"operator 'contains' searches text; field '{field.path}' is {field.type.value}"
        return [(loc[:-1] + ("op",), message)]
    if op == "exists":
        if value is None or isinstance(value, bool):
            return []
        return [(loc, "operator 'exists' takes true (the field has a value) or false")]
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            return [(loc, f"operator '{op}' takes a non-empty list of values, e.g. [FR, BE]")]
        items = [((*loc, index), value_problem(field, item)) for index, item in enumerate(value)]
        return [(where, problem) for where, problem in items if problem is not None]
    if op == "contains" and not isinstance(value, str):
        return [(loc, f"operator 'contains' takes text, not {excerpt(value)}")]
    problem = value_problem(field, value)
    return [(loc, problem)] if problem is not None else []
