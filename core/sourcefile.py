"""Load a YAML or JSON file into plain data that can say the source line of every value.

`load_source` returns a `SourceDocument`: `.data` holds dicts, lists, str, int, float, bool and
None (YAML 1.1 safe-load types, except that dates and timestamps stay ISO strings so pydantic
parses them like any other string), `.problems` the duplicate keys and syntax errors found, and
`.line_of(loc)` the 1-based line of the deepest existing value on a path such as
`("tasks", "orders", 0, "schedule")`. Mapping keys are always their source text, so YAML 1.1
cannot turn keys like `on:` or `no:` into booleans. JSON files go through the same parser
(JSON is YAML) so they get lines too, but their scalars follow JSON rules.

The data is built straight from libyaml's event stream, without a node tree, and only the
lines of the top two levels (a section and its items) are kept. A deeper line is found when a
problem asks for it, by reading that one item's text again. Short plain values are read once
and shared. A 50 MB import file costs a few hundred MB this way instead of gigabytes
(docs/architecture.md has the figures).
"""

from __future__ import annotations

import datetime as dt
import json
from array import array
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from yaml.nodes import ScalarNode

from core.errors import InvalidFileError, Problem
from core.settings import get_settings

Loc = tuple[str | int, ...]

# Values an alias may repeat in all: aliases nested ten deep ("billion laughs") exceed it, an
# anchor reused for every order of a large file does not (the file's own values are bounded
# by its size, `HAULFLOW_MAX_IMPORT_BYTES`).
MAX_ALIAS_VALUES = 100_000
# Import and configuration files are a few levels deep; a thousand would exhaust the stack.
MAX_DEPTH = 64

# libyaml's parser is ~7x faster than PyYAML's on large import files and gives the same marks.
_PARSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = SafeConstructor()

_PREFIX = "tag:yaml.org,2002:"
_MERGE_TAG = f"{_PREFIX}merge"
_MAP_TAG = f"{_PREFIX}map"
_SEQ_TAG = f"{_PREFIX}seq"
_STR_TAG = f"{_PREFIX}str"
_SCALAR_TAGS = frozenset(
    f"{_PREFIX}{name}" for name in ("null", "bool", "int", "float", "str", "timestamp", "binary")
)
# Plain values up to this length are read once per file and shared: a large import repeats
# the same keys, countries, statuses and dates on every item.
_SHARED_LENGTH = 32
_SHARED_COUNT = 100_000
# Items whose deeper lines are kept after being read again (a problem list names a few items
# many times, then moves on).
_FRAGMENTS_KEPT = 64


class Mark(Protocol):
    """Where an event starts or ends (PyYAML's stubs make every mark optional; the parser
    always sets them, which is why events are typed `Any` below)."""

    line: int
    column: int
    index: int


class _Children:
    """The line and text span of each child of one top-level value (a section's items)."""

    __slots__ = ("lines", "firsts", "starts", "ends", "columns", "keys")

    def __init__(self) -> None:
        # The line of the child's key (mapping) or of the child itself (sequence), and of its
        # text's start.
        self.lines = array("q")
        self.firsts = array("q")
        # Character offsets of the child's text, and the column it starts at; -1 for a scalar
        # or an alias, which have nothing deeper.
        self.starts = array("q")
        self.ends = array("q")
        self.columns = array("q")
        # Mapping children: key → position (sequence children are their own position).
        self.keys: dict[str, int] = {}

    def add(self, key: str | int, line: int, mark: Mark, end: int) -> None:
        if isinstance(key, str):
            self.keys[key] = len(self.lines)
        self.lines.append(line)
        self.firsts.append(mark.line + 1)
        start, column = (mark.index, mark.column) if end >= 0 else (-1, -1)
        self.starts.append(start)
        self.ends.append(end)
        self.columns.append(column)

    def find(self, key: str | int) -> int | None:
        if isinstance(key, str):
            return self.keys.get(key)
        if self.keys or not 0 <= key < len(self.lines):
            return None
        return key


class SourceDocument:
    """Plain data parsed from a file, its problems, and the line of every value."""

    def __init__(
        self,
        file: str,
        data: Any,
        problems: list[Problem],
        *,
        text: str = "",
        lines: dict[Loc, int] | None = None,
        children: dict[str, _Children] | None = None,
    ) -> None:
        self.file = file
        self.data = data
        self.problems = problems
        self._text = text
        self._lines: dict[Loc, int] = lines if lines is not None else {(): 1}
        self._children = children or {}
        self._fragments: dict[tuple[str, int], dict[Loc, int]] = {}

    @classmethod
    def refused(cls, file: str, problem: Problem) -> SourceDocument:
        """A file that gave no data, and why."""
        return cls(file, None, [problem])

    def __repr__(self) -> str:
        return f"SourceDocument({self.file!r}, problems={len(self.problems)})"

    def line_of(self, loc: Sequence[str | int]) -> int:
        """The line of the deepest value that exists along `loc` (1 for the whole file)."""
        path: Loc = tuple(loc)
        if len(path) >= 2 and isinstance(path[0], str):
            children = self._children.get(path[0])
            position = children.find(path[1]) if children is not None else None
            if children is not None and position is not None:
                if len(path) > 2:
                    deeper = self._deeper_lines(path[0], position, children)
                    for end in range(len(path), 2, -1):
                        line = deeper.get(path[2:end])
                        if line is not None:
                            return line
                return children.lines[position]
            path = path[:1]
        for end in range(len(path), -1, -1):
            line = self._lines.get(path[:end])
            if line is not None:
                return line
        return 1

    def problem(self, loc: Sequence[str | int], message: str) -> Problem:
        """A problem located at `loc` in this file."""
        return Problem(self.file, self.line_of(loc), message, tuple(loc))

    def _deeper_lines(self, key: str, position: int, children: _Children) -> dict[Loc, int]:
        """The lines inside one child, read again from its text (paths relative to it)."""
        found = self._fragments.get((key, position))
        if found is None:
            start, end = children.starts[position], children.ends[position]
            found = {}
            if start >= 0:
                # Indented as in the file, so a block mapping's keys still line up.
                fragment = " " * children.columns[position] + self._text[start:end]
                found = _read_lines(fragment, first_line=children.firsts[position])
            if len(self._fragments) >= _FRAGMENTS_KEPT:
                self._fragments.clear()
            self._fragments[(key, position)] = found
        return found


def _read_lines(text: str, *, first_line: int) -> dict[Loc, int]:
    """The line of every path inside one value's text; as far as it reads, on any error."""
    lines: dict[Loc, int] = {}
    # Open collections: [path (None inside a key), mapping?, key or next position, key next?]
    stack: list[list[Any]] = []
    offset = first_line - 1
    try:
        events: Iterable[Any] = yaml.parse(text, Loader=_PARSER)
        for event in events:
            kind = type(event)
            if kind is MappingEndEvent or kind is SequenceEndEvent:
                stack.pop()
                continue
            opens = kind is MappingStartEvent or kind is SequenceStartEvent
            if not (opens or kind is ScalarEvent or kind is AliasEvent):
                continue
            child: Loc | None = ()
            if stack:
                top = stack[-1]
                path, mapping = top[0], top[1]
                line = offset + event.start_mark.line + 1
                if mapping and top[3]:
                    # A key: its line is the line of the value it names.
                    top[2], top[3], child = getattr(event, "value", None), False, None
                    if path is not None and top[2] is not None:
                        lines[(*path, top[2])] = line
                elif mapping:
                    top[3] = True
                    child = None if path is None or top[2] is None else (*path, top[2])
                else:
                    child = None if path is None else (*path, top[2])
                    if child is not None:
                        lines[child] = line
                    top[2] += 1
            if opens:
                mapping = kind is MappingStartEvent
                stack.append([child, mapping, None if mapping else 0, True])
    except yaml.YAMLError:
        pass
    return lines


class _Refused(Exception):
    """The file gives no data: a structural error, nested aliases, too deep a nesting."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message


class _Open:
    """A mapping or sequence being read, and where its next value goes."""

    __slots__ = ("value", "depth", "size", "anchor", "mark", "key", "key_line", "firsts", "merges")

    def __init__(self, value: Any, depth: int, anchor: str | None, mark: Mark) -> None:
        self.value = value
        self.depth = depth
        # Values inside, counted as aliases repeat them.
        self.size = 1
        self.anchor = anchor
        self.mark = mark
        # Mappings: the key the next value goes under (_AWAITED before a key is read).
        self.key: Any = _AWAITED if isinstance(value, dict) else None
        self.key_line = 0
        self.firsts: dict[str, int] = {}
        self.merges: list[tuple[Any, int]] = []


_AWAITED = object()  # the next scalar of a mapping is a key
_MERGE = object()  # the value merges mappings into this one
_IN_KEY = object()  # a list or mapping used as a key is being read (and will be dropped)
_SKIPPED = object()  # the key was not plain text: the value is dropped


class _Reader:
    """Builds plain data from a stream of events, recording lines and problems."""

    def __init__(self, file: str, *, json_mode: bool) -> None:
        self.file = file
        self.json_mode = json_mode
        self.problems: list[Problem] = []
        self.lines: dict[Loc, int] = {}
        self.children: dict[str, _Children] = {}
        self._open: list[_Open] = []
        self._anchors: dict[str, tuple[Any, int, int]] = {}
        self._building: set[str] = set()
        self._budget = MAX_ALIAS_VALUES
        self._plain: dict[str, Any] = {}
        self._shared: dict[str, str] = {}
        self._root: Any = None

    def read(self, events: Iterable[Any]) -> Any:
        documents = 0
        for event in events:
            kind = type(event)
            if kind is ScalarEvent:
                self._scalar(event)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                self._start(event, mapping=kind is MappingStartEvent)
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                self._end(event)
            elif kind is AliasEvent:
                self._alias(event)
            elif kind is DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _Refused(
                        event.start_mark.line + 1,
                        "invalid YAML: expected a single document in the stream but found "
                        "another document",
                    )
        return self._root

    def report(self, mark: Mark, message: str) -> None:
        self.problems.append(Problem(self.file, mark.line + 1, message))

    # Events.

    def _scalar(self, event: Any) -> None:
        if self._take_key(event):
            return
        value = self._read_scalar(event)
        if event.anchor is not None:
            self._anchor(event.anchor, event.start_mark, value, 1)
        self._add(value, 1, event.start_mark, -1)

    def _start(self, event: Any, *, mapping: bool) -> None:
        depth = len(self._open)
        if depth > MAX_DEPTH:
            raise _Refused(
                event.start_mark.line + 1,
                f"values are nested more than {MAX_DEPTH} levels deep; flatten them",
            )
        parent = self._open[-1] if self._open else None
        if parent is not None and parent.key is _AWAITED:
            self.report(event.start_mark, "a key must be plain text, not a list or a mapping")
            parent.key = _IN_KEY
        tag, expected = event.tag, _MAP_TAG if mapping else _SEQ_TAG
        if tag is not None and tag not in ("!", expected):
            plain = "a plain mapping" if mapping else "a plain list"
            self.report(event.start_mark, f"unsupported tag {tag}; write {plain}")
        if event.anchor is not None:
            self._building.add(event.anchor)
        if depth == 1 and parent is not None and isinstance(parent.key, str):
            # A top-level value (a section): its children's lines and spans are kept.
            self.children[parent.key] = _Children()
        self._open.append(_Open({} if mapping else [], depth + 1, event.anchor, event.start_mark))

    def _end(self, event: Any) -> None:
        closed = self._open.pop()
        value = closed.value
        if closed.merges:
            value = self._merge(closed)
        if closed.anchor is not None:
            self._building.discard(closed.anchor)
            self._anchor(closed.anchor, closed.mark, value, closed.size)
        self._add(value, closed.size, closed.mark, event.end_mark.index)

    def _alias(self, event: Any) -> None:
        anchor = event.anchor
        if anchor in self._building:
            self.report(
                event.start_mark, "an alias refers to a value that contains it (recursive alias)"
            )
            value, size = None, 1
        elif anchor in self._anchors:
            value, size, _ = self._anchors[anchor]
            # An alias repeats its value and all it holds.
            self._budget -= size
            if self._budget < 0:
                raise _Refused(
                    1,
                    f"aliases repeat more than {MAX_ALIAS_VALUES:,} values (aliases nested in "
                    "aliases?); write the values out, or use fewer levels of aliases",
                )
        else:
            raise _Refused(
                event.start_mark.line + 1, f"invalid YAML: found undefined alias '{anchor}'"
            )
        parent = self._open[-1] if self._open else None
        if parent is not None and parent.key is _AWAITED:
            if isinstance(value, str):
                self._set_key(parent, value, event.start_mark)
            else:
                self.report(event.start_mark, "a key must be plain text, not a list or a mapping")
                parent.key = _SKIPPED
            return
        self._add(value, size, event.start_mark, -1)

    # Values.

    def _take_key(self, event: Any) -> bool:
        """Read `event` as the next key of the open mapping, if a key is what comes next."""
        parent = self._open[-1] if self._open else None
        if parent is None or parent.key is not _AWAITED:
            return False
        plain_merge = event.value == "<<" and event.implicit[0] and event.tag in (None, "!")
        if plain_merge or event.tag == _MERGE_TAG:
            parent.key, parent.key_line = _MERGE, event.start_mark.line + 1
        else:
            self._set_key(parent, event.value, event.start_mark)
        return True

    def _set_key(self, parent: _Open, key: str, mark: Mark) -> None:
        key = self._shared.setdefault(key, key) if len(key) <= _SHARED_LENGTH else key
        line = mark.line + 1
        first = parent.firsts.setdefault(key, line)
        if first != line or key in parent.value:
            self.problems.append(
                Problem(
                    self.file,
                    line,
                    f"duplicate key '{key}' (first at line {first}); "
                    "only one value per key is allowed",
                )
            )
        parent.key, parent.key_line = key, line

    def _anchor(self, anchor: str, mark: Mark, value: Any, size: int) -> None:
        if anchor in self._anchors:
            first = self._anchors[anchor][2]
            raise _Refused(
                mark.line + 1,
                f"invalid YAML: the anchor &{anchor} is defined twice (first at line {first}); "
                "rename one",
            )
        self._anchors[anchor] = (value, size, mark.line + 1)

    def _add(self, value: Any, size: int, mark: Mark, end: int) -> None:
        """Put a finished value in the open collection (or make it the root)."""
        if not self._open:
            self._root = value
            self.lines[()] = mark.line + 1
            return
        parent = self._open[-1]
        parent.size += size
        container = parent.value
        if isinstance(container, list):
            key: Any = len(container)
            line = mark.line + 1
            container.append(value)
        else:
            key, line = parent.key, parent.key_line
            parent.key = _AWAITED
            if key is _IN_KEY:
                parent.key = _SKIPPED  # the key is read: its value comes next
                return
            if key is _SKIPPED:
                return
            if key is _MERGE:
                parent.merges.append((value, line))
                return
            container[key] = value
        if parent.depth == 1:
            if isinstance(key, str):
                self.lines[(key,)] = line
        elif parent.depth == 2 and len(self._open) >= 2:
            holder = self._open[-2]
            owner = holder.key if isinstance(holder.value, dict) else None
            children = self.children.get(owner) if isinstance(owner, str) else None
            if children is not None:
                children.add(key, line, mark, end)

    def _merge(self, closed: _Open) -> dict[str, Any]:
        # YAML merge keys: earlier sources win over later ones, the mapping's own keys over all.
        result: dict[str, Any] = {}
        for source, line in reversed(closed.merges):
            for merged in reversed(source if isinstance(source, list) else [source]):
                if isinstance(merged, dict):
                    result.update(merged)
                else:
                    self.problems.append(Problem(self.file, line, "'<<' merges mappings only"))
        result.update(closed.value)
        return result

    def _read_scalar(self, event: Any) -> Any:
        value: str = event.value
        if self.json_mode:
            if event.style:  # quoted (libyaml reports plain scalars as "")
                return value
            try:
                return json.loads(value)
            except ValueError:
                self.report(event.start_mark, f"{value!r} is not a JSON value; quote text values")
                return None
        tag = event.tag
        if tag is None or tag == "!":
            if not event.implicit[0]:
                return (
                    self._shared.setdefault(value, value) if len(value) <= _SHARED_LENGTH else value
                )
            shared = self._plain.get(value, _AWAITED)
            if shared is not _AWAITED:
                return shared
            tag = _RESOLVER.resolve(ScalarNode, value, event.implicit)  # type: ignore[no-untyped-call]
        result = self._construct(event, tag)
        if event.tag is None and len(value) <= _SHARED_LENGTH and len(self._plain) < _SHARED_COUNT:
            self._plain[value] = result
        return result

    def _construct(self, event: Any, tag: str) -> Any:
        if tag == _STR_TAG:
            return event.value
        if tag not in _SCALAR_TAGS:
            self.report(event.start_mark, f"cannot read this value: the tag {tag} is not supported")
            return None
        node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            value = SafeConstructor.yaml_constructors[tag](_CONSTRUCTOR, node)
        except (ConstructorError, ValueError, OverflowError) as error:
            problem = getattr(error, "problem", None) or f"not a valid {tag.removeprefix(_PREFIX)}"
            self.report(event.start_mark, f"cannot read this value: {problem}")
            return None
        if isinstance(value, dt.date | dt.datetime):
            return value.isoformat()
        if isinstance(value, bytes):
            self.report(event.start_mark, "binary values (!!binary) are not supported")
            return None
        return value


def parse_source(text: str, *, file: str, json_mode: bool = False) -> SourceDocument:
    """Parse YAML (or JSON, with JSON scalar rules) text; problems are returned, never raised."""
    if json_mode:
        if not text.strip():  # YAML reads nothing as nothing; JSON has no empty document
            return SourceDocument.refused(file, Problem(file, 1, "invalid JSON: the file is empty"))
        # A literal tab is never valid inside a JSON string, so every tab here is whitespace,
        # which the YAML scanner would otherwise refuse.
        text = text.replace("\t", " ")
    reader = _Reader(file, json_mode=json_mode)
    try:
        data = reader.read(yaml.parse(text, Loader=_PARSER))
    except _Refused as refused:
        return SourceDocument.refused(file, Problem(file, refused.line, refused.message))
    except yaml.MarkedYAMLError as error:
        if json_mode and (problem := _json_problem(file, text)) is not None:
            return SourceDocument.refused(file, problem)
        language = "JSON" if json_mode else "YAML"
        return SourceDocument.refused(file, _syntax_problem(file, error, language=language))
    except yaml.reader.ReaderError as error:
        line = text[: error.position].count("\n") + 1
        message = f"unacceptable character #x{error.character:04x}; remove it"
        return SourceDocument.refused(file, Problem(file, line, message))
    except yaml.YAMLError as error:
        return SourceDocument.refused(file, Problem(file, 1, f"invalid YAML: {error}"))
    if not reader.lines:
        return SourceDocument(file, None, [])
    return SourceDocument(
        file, data, reader.problems, text=text, lines=reader.lines, children=reader.children
    )


def _json_problem(file: str, text: str) -> Problem | None:
    """A JSON syntax error in JSON's own words and place (the YAML scanner's are neither)."""
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        return Problem(file, error.lineno, f"invalid JSON: {error.msg} (column {error.colno})")
    return None


def _syntax_problem(file: str, error: yaml.MarkedYAMLError, *, language: str = "YAML") -> Problem:
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark is not None else 1
    message = f"invalid {language}: {error.problem or error.context or 'syntax error'}"
    if error.context and error.problem and error.problem.startswith("but "):
        # PyYAML splits "expected X but found Y" across context and problem.
        message = f"invalid {language}: {error.context} {error.problem}"
    elif error.context and error.problem and error.context_mark is not None:
        message += f" ({error.context} at line {error.context_mark.line + 1})"
    return Problem(file, line, message)


def load_source(path: Path, *, display: str | None = None) -> SourceDocument:
    """Read and parse `path` (`.json` files with JSON rules); `display` names it in problems.

    Raises `InvalidFileError` (line 0) when the file cannot be read at all.
    """
    file = display if display is not None else str(path)
    limit = get_settings().max_import_bytes
    try:
        size = path.stat().st_size
        if size > limit:
            raise InvalidFileError(
                [
                    Problem(
                        file,
                        0,
                        f"the file is {size:,} bytes; the limit is {limit:,} "
                        "(HAULFLOW_MAX_IMPORT_BYTES): split it into several files",
                    )
                ]
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InvalidFileError(
            [Problem(file, 0, "file not found; check the path (relative to where you are)")]
        ) from None
    except IsADirectoryError:
        raise InvalidFileError([Problem(file, 0, "is a directory, not a file")]) from None
    except OSError as error:
        message = f"cannot read the file: {error.strerror or error}"
        raise InvalidFileError([Problem(file, 0, message)]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        message = "the file is not UTF-8 text; save it as UTF-8"
        return SourceDocument.refused(file, Problem(file, line, message))
    del raw
    return parse_source(text, file=file, json_mode=path.suffix.lower() == ".json")
