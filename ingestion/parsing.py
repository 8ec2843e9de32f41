"""Turn a loaded source document into validated items, with every problem located."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Annotated, Any, Generic, TypeVar, get_args

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from core.errors import Problem
from core.sourcefile import SourceDocument
from core.suggestions import did_you_mean
from core.text import excerpt, first_unsafe
from ingestion.fields import ERROR_TYPE
from ingestion.schema import (
    SECTIONS,
    BookingIn,
    FileModel,
    InvoiceIn,
    OrderIn,
    PartyIn,
    TripIn,
    UserIn,
)

M = TypeVar("M", bound=FileModel)


# How much of a long reference a message repeats.
LABEL_LENGTH = 64


@dataclass(frozen=True)
class Entry(Generic[M]):
    """A valid item and its position in its section (for locating later problems)."""

    index: int
    item: M


# The references an item that failed validation still has checked in the same run (a broken
# date must not hide a customer that exists nowhere): its fields naming parties and orders.
REFERENCE_FIELDS: dict[str, tuple[str, ...]] = {
    "orders": ("customer",),
    "bookings": ("subcontractor", "orders"),
    "trips": ("subcontractor", "orders"),
    "invoices": ("party", "order"),
}


@dataclass(frozen=True)
class Broken:
    """An item that failed validation: its place, and those of its references that are valid."""

    section: str
    index: int
    references: dict[str, Any]


# (party reference, the party's own reference) → (entity holding it, its index in the file or
# None for the database): who holds each external reference seen so far.
Owners = dict[tuple[str, str], tuple[str, int | None]]


@dataclass
class ParsedFile:
    """One file read for import: what is known of all of it, and the valid items of one chunk.

    `read_file` fills what concerns the whole file (keys, repeated items, problems);
    `parse_chunks` then gives views sharing it, each holding the valid items of one chunk of
    one section, so a large file is never held as validated items all at once.
    """

    source: SourceDocument
    problems: list[Problem] = field(default_factory=list)
    # Section → key → index of its first item, including items that failed validation, so a
    # reference to a broken item is not reported a second time as unknown.
    written: dict[str, dict[str, int]] = field(default_factory=dict)
    # Section → indexes of items repeating an earlier item's key (reported, never validated).
    repeated: dict[str, set[int]] = field(default_factory=dict)
    # What the checks learn chunk by chunk: the kind of each party of the file (None until
    # validated, and for an invalid one), and the holders of external references.
    party_kinds: dict[str, str | None] = field(default_factory=dict)
    owners: dict[str, Owners] = field(default_factory=dict)
    parties: list[Entry[PartyIn]] = field(default_factory=list)
    users: list[Entry[UserIn]] = field(default_factory=list)
    orders: list[Entry[OrderIn]] = field(default_factory=list)
    bookings: list[Entry[BookingIn]] = field(default_factory=list)
    trips: list[Entry[TripIn]] = field(default_factory=list)
    invoices: list[Entry[InvoiceIn]] = field(default_factory=list)
    # The items of this chunk that failed validation, with their valid references.
    broken: list[Broken] = field(default_factory=list)

    def label(self, section: str, index: int) -> str:
        """How messages name an item: `order ORD-1001`, or `order #4` without a reference."""
        _, singular, key_name = SECTIONS[section]
        key = _read_raw_key(self.source.data[section][index], key_name)
        if key and first_unsafe(key) is not None:
            key = excerpt(key, LABEL_LENGTH)  # escaped: an invisible character or line break
        elif key and len(key) > LABEL_LENGTH:
            key = f"{key[:LABEL_LENGTH]}… ({len(key):,} characters)"
        return f"{singular} {key}" if key else f"{singular} #{index + 1}"

    def report(self, section: str, index: int, path: Sequence[str | int], message: str) -> None:
        """Record a problem of one item, located at `path` inside it."""
        loc = (section, index, *path)
        text = f"{self.label(section, index)}: {message}"
        self.problems.append(Problem(self.source.file, self.source.line_of(loc), text, loc))

    def count(self, section: str) -> int:
        """How many items the file has in `section` (0 when it is missing or not a list)."""
        items = self.source.data.get(section) if isinstance(self.source.data, dict) else None
        return len(items) if isinstance(items, list) else 0


def read_file(source: SourceDocument) -> ParsedFile:
    """What the whole file holds: its sections, every item's key, items repeating a key."""
    parsed = ParsedFile(source, problems=list(source.problems))
    data = source.data
    if data is None:
        return parsed
    if not isinstance(data, dict):
        message = f"the file must be a mapping of sections ({', '.join(SECTIONS)})"
        parsed.problems.append(source.problem((), message))
        return parsed
    for key in data:
        if key not in SECTIONS:
            hint = did_you_mean(key, list(SECTIONS)) or f"; sections are {', '.join(SECTIONS)}"
            parsed.problems.append(source.problem((key,), f"unknown section '{key}'{hint}"))
    for section in SECTIONS:
        _index_items(parsed, section)
    parsed.party_kinds = dict.fromkeys(parsed.written["parties"])
    return parsed


def _index_items(parsed: ParsedFile, section: str) -> None:
    written = parsed.written.setdefault(section, {})
    repeated = parsed.repeated.setdefault(section, set())
    items = parsed.source.data.get(section)
    if items is None:
        return
    if not isinstance(items, list):
        message = f"{section} must be a list (one '- ' line per item)"
        parsed.problems.append(parsed.source.problem((section,), message))
        return
    key_name = SECTIONS[section][2]
    for index, raw in enumerate(items):
        key = _read_raw_key(raw, key_name)
        if key is None:
            continue
        if key in written:
            line = parsed.source.line_of((section, written[key]))
            message = f"appears twice in this file (first at line {line}); keep one"
            parsed.report(section, index, (key_name,), message)
            repeated.add(index)
        else:
            written[key] = index


def parse_chunks(parsed: ParsedFile, section: str, size: int) -> Iterator[ParsedFile]:
    """Views of `parsed` holding the valid items of `section`, `size` items at a time."""
    model = SECTIONS[section][0]
    count = parsed.count(section)
    for start in range(0, count, size):
        chunk = replace(
            parsed, parties=[], users=[], orders=[], bookings=[], trips=[], invoices=[], broken=[]
        )
        entries = _validate(chunk, section, model, start, min(start + size, count))
        setattr(chunk, section, entries)
        yield chunk


def _validate(
    chunk: ParsedFile, section: str, model: type[M], start: int, stop: int
) -> list[Entry[M]]:
    """The valid items of `section` from `start` to `stop`; the others reported, and kept in
    `chunk.broken` with their valid references."""
    items = chunk.source.data[section]
    repeated = chunk.repeated.get(section, set())
    entries: list[Entry[M]] = []
    for index in range(start, stop):
        if index in repeated:
            continue
        try:
            entries.append(Entry(index, model.model_validate(items[index])))
        except ValidationError as error:
            for details in error.errors():
                chunk.report(section, index, details["loc"], describe_error(details, model))
            references = _valid_references(model, section, items[index])
            chunk.broken.append(Broken(section, index, references))
    return entries


def _valid_references(model: type[FileModel], section: str, raw: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in REFERENCE_FIELDS.get(section, ()):
        value = raw.get(name) if isinstance(raw, dict) else None
        if value is None:
            continue
        try:
            found[name] = _field_reader(model, name).validate_python(value)
        except ValidationError:
            continue  # reported with the item's other fields
    return found


@cache
def _field_reader(model: type[FileModel], name: str) -> TypeAdapter[Any]:
    """One field of `model` read on its own, with its validators."""
    info = model.model_fields[name]
    annotation: Any = info.annotation
    if info.metadata:  # `Annotated` validators are kept apart from the field's type
        annotation = Annotated[(annotation, *info.metadata)]
    return TypeAdapter(annotation)


def _read_raw_key(raw: Any, key_name: str) -> str | None:
    # As the reference type reads it (NFKC): ＯＲＤ-１ and ORD-1 are the same key.
    value = raw.get(key_name) if isinstance(raw, dict) else None
    if not isinstance(value, str):
        return None
    normalized = unicodedata.normalize("NFKC", value).strip()
    return normalized or None


def describe_error(error: ErrorDetails, model: type[BaseModel]) -> str:
    """A pydantic error as one sentence saying what is wrong and what is expected."""
    loc, kind, value = error["loc"], error["type"], error["input"]
    names = [part for part in loc if isinstance(part, str)]
    if kind == "missing":
        return f"'{'.'.join(names)}' is required"
    if kind == "extra_forbidden":
        key, allowed = str(loc[-1]), _find_keys_at(model, loc[:-1])
        hint = did_you_mean(key, allowed) or f"; allowed keys: {', '.join(allowed)}"
        return _prefix_path(names[:-1], f"unknown key '{key}'{hint}")
    if kind == ERROR_TYPE:
        text = error["msg"]
    elif kind == "enum":
        allowed = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
        hint = did_you_mean(value, allowed) if isinstance(value, str) else ""
        text = f"{excerpt(value)} is not allowed; use one of {', '.join(allowed)}{hint}"
    elif kind == "string_type":
        text = (
            f"expected text, not {_describe_value(value)}; quote values such as 0123 to keep them"
        )
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        text = f"expected keys and values (key: value), not {_describe_value(value)}"
    elif kind == "list_type":
        text = f"expected a list, not {_describe_value(value)}"
    elif kind in ("bool_type", "bool_parsing"):
        text = f"expected true or false, not {excerpt(value)}"
    elif kind in ("decimal_parsing", "decimal_type"):
        text = f"{excerpt(value)} is not an amount; write it like 1250.00"
    elif kind == "string_too_short":
        text = "must not be empty"
    else:
        text = error["msg"][:1].lower() + error["msg"][1:]
    return _prefix_path(names, text)


def _prefix_path(names: list[str], text: str) -> str:
    return f"{'.'.join(names)}: {text}" if names else text


def _describe_value(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "keys and values"
    return f"{excerpt(value)}"


def _find_keys_at(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The keys the model accepts at `loc` (list positions skipped)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        found = current.model_fields.get(part)
        current = _find_model(found.annotation) if found is not None else None
    return list(current.model_fields) if current is not None else []


def _find_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        found = _find_model(argument)
        if found is not None:
            return found
    return None
