"""Turn pydantic's validation errors into located, human messages about the file."""

from __future__ import annotations

import types
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from core.errors import Problem
from core.sourcefile import Loc, SourceDocument
from core.suggestions import closest
from core.suggestions import did_you_mean as suggestion_hint
from core.text import excerpt

# Words people bring from their TMS or other tools, mapped to the key haulflow uses.
SYNONYMS = {
    "recipient_roles": "intended_for",
    "recipients": "intended_for",
    "destinataires": "intended_for",
    "trigger": "schedule",
    "planning": "schedule",
    "responsible_person": "responsible",
    "owner": "responsible",
    "assignee": "responsible",
    "linked_mailbox": "mailbox",
    "execution_method": "execution",
    "mode": "execution",
    "documents": "required_documents",
    "document_types": "required_documents",
    "template": "email",
    "templates": "email",
    "condition": "conditions",
    "sender": "from",
    "language": "default_language",
}
_PASSWORD_KEYS = {"password", "pass", "passwd", "pwd", "secret", "smtp_password"}
_NAMED_ITEMS = {"roles": "role", "teams": "team", "mailboxes": "mailbox", "users": "user"}
_TYPE_MESSAGES = {
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "model_type": "must be a mapping of keys to values",
    "model_attributes_type": "must be a mapping of keys to values",
    "dict_type": "must be a mapping of keys to values",
    "tuple_type": "must be a list (e.g. [a, b])",
    "list_type": "must be a list (e.g. [a, b])",
}


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """ "; did you mean 'x'?" when a choice is close to `word`, else "; allowed: a, b"."""
    options = sorted(choices)
    hint = suggestion_hint(word, options)
    if hint:
        return hint
    return f"; allowed: {', '.join(options)}" if options else ""


def where(loc: Sequence[str | int], data: Any) -> str:
    """Name the place of `loc` for a person: `task 'send-pod', schedule.offset`."""
    parts = [part for part in loc if part != "[key]"]
    prefix = ""
    if len(parts) >= 3 and parts[0] == "tasks":
        key = _item_key(data, parts[:3], "key")
        prefix = f"task '{key}'" if key else f"tasks.{parts[1]}[{parts[2]}]"
        parts = parts[3:]
    elif len(parts) >= 2 and parts[0] in _NAMED_ITEMS and isinstance(parts[1], int):
        key = _item_key(data, parts[:2], "username" if parts[0] == "users" else "key")
        noun = _NAMED_ITEMS[str(parts[0])]
        prefix = f"{noun} '{key}'" if key else f"{parts[0]}[{parts[1]}]"
        parts = parts[2:]
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return ", ".join(piece for piece in (prefix, path) if piece)


def _item_key(data: Any, loc: Sequence[str | int], name: str) -> str | None:
    node = data
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and part < len(node):
            node = node[part]
        elif isinstance(part, str) and isinstance(node, dict):
            node = node.get(part)
        else:
            return None
    key = node.get(name) if isinstance(node, dict) else None
    return key if isinstance(key, str) else None


def _strip(annotation: Any) -> Any:
    """Unwrap Annotated and Optional so the model or container underneath shows."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def model_at(root: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that validates the mapping found at `loc`, if any."""
    annotation: Any = root
    for part in loc:
        annotation = _strip(annotation)
        origin, args = get_origin(annotation), get_args(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields = {field.alias or name: field for name, field in annotation.model_fields.items()}
            if not isinstance(part, str) or part not in fields:
                return None
            annotation = fields[part].annotation
        elif origin in (tuple, list) and isinstance(part, int):
            annotation = args[0]
        elif origin is dict and isinstance(part, str):
            annotation = args[1]
        else:
            return None
    annotation = _strip(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def allowed_keys(root: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The keys the mapping at `loc` accepts."""
    model = model_at(root, loc)
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def unknown_key_message(key: str, allowed: Sequence[str]) -> str:
    """Explain an unknown key, with the closest allowed key or a synonym's target."""
    if key.lower() in _PASSWORD_KEYS:
        return (
            f"'{key}' is not allowed: never write a password in this file; put the password "
            "in an environment variable and reference it with password_secret: VARIABLE_NAME"
        )
    normalized = key.lower().replace("-", "_").replace(" ", "_")
    match = closest(normalized, allowed)
    if match is None:
        synonym = closest(normalized, SYNONYMS)
        if synonym is not None and SYNONYMS[synonym] in allowed:
            match = SYNONYMS[synonym]
    if match is not None:
        return f"unknown key '{key}'; did you mean '{match}'?"
    return f"unknown key '{key}'; allowed keys: {', '.join(allowed)}"


def _detail(error: ErrorDetails) -> str:
    kind, loc, value = error["type"], error["loc"], error.get("input")
    secret = any(isinstance(part, str) and "password" in part for part in loc)
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        got = "" if secret else f"; got {excerpt(value)}"
        return f"must be {expected}{got}"
    if kind == "too_short":
        return "must not be empty"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        ctx = error.get("ctx", {})
        bound = {"gt": "greater than", "ge": "at least", "lt": "less than", "le": "at most"}
        name, limit = next(iter(ctx.items()))
        return f"must be {bound[name]} {limit}"
    message = _TYPE_MESSAGES.get(kind, error["msg"])
    if kind == "string_type" and isinstance(value, bool | int | float):
        # YAML reads NO, yes, on, 012 as booleans or numbers; quoting keeps them text.
        message += f"; YAML read {excerpt(value)}, put the value in quotes"
    return message


def problems_from_error(
    error: ValidationError, source: SourceDocument, root: type[BaseModel]
) -> list[Problem]:
    """One located problem per pydantic error, worded for the person editing the file."""
    problems = []
    for details in error.errors():
        loc: Loc = tuple(details["loc"])
        kind = details["type"]
        if kind == "missing":
            place = where(loc[:-1], source.data)
            message = f"missing required key '{loc[-1]}'"
            if loc == ("schema_version",):
                message += "; add 'schema_version: 1' at the top"
        elif kind == "extra_forbidden":
            place = where(loc[:-1], source.data)
            message = unknown_key_message(str(loc[-1]), allowed_keys(root, loc[:-1]))
        else:
            place = where(loc, source.data)
            message = _detail(details)
        text = f"{place}: {message}" if place else message
        problems.append(source.problem([part for part in loc if part != "[key]"], text))
    return problems
