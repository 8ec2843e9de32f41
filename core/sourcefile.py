"""Load a YAML or JSON file into plain data that remembers the source line of every value.

`load_source` returns a `SourceDocument`: `.data` holds dicts, lists, str, int, float, bool and
None (YAML 1.1 safe-load types, except that dates and timestamps stay ISO strings so pydantic
parses them like any other string), `.problems` the duplicate keys and syntax errors found, and
`.line_of(loc)` the 1-based line of the deepest existing value on a path such as
`("tasks", "orders", 0, "schedule")`. Mapping keys are always their source text, so YAML 1.1
cannot turn keys like `on:` or `no:` into booleans. JSON files go through the same composer
(JSON is YAML) so they get lines too, but their scalars follow JSON rules.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from core.errors import InvalidFileError, Problem
from core.settings import get_settings

Loc = tuple[str | int, ...]

# Values an alias may repeat in all: aliases nested ten deep ("billion laughs") exceed it, an
# anchor reused for every order of a large file does not (the file's own values are bounded
# by its size, `HAULFLOW_MAX_IMPORT_BYTES`).
MAX_ALIAS_VALUES = 100_000
# Import and configuration files are a few levels deep; a thousand would exhaust the stack.
MAX_DEPTH = 64

# libyaml's composer is ~7x faster on large import files and keeps the same marks.
_COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


@dataclass(frozen=True)
class SourceDocument:
    """Plain data parsed from a file, its problems, and the line of every value."""

    file: str
    data: Any
    problems: list[Problem]
    lines: Mapping[Loc, int] = field(repr=False)

    def line_of(self, loc: Sequence[str | int]) -> int:
        """The line of the deepest value that exists along `loc` (1 for the whole file)."""
        path = tuple(loc)
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return 1

    def problem(self, loc: Sequence[str | int], message: str) -> Problem:
        """A problem located at `loc` in this file."""
        return Problem(self.file, self.line_of(loc), message)


class _TooManyValues(Exception):
    """Aliases repeat more than MAX_ALIAS_VALUES values (nested aliases)."""


class _TooDeep(Exception):
    """Values nested more than MAX_DEPTH levels; the node is where."""

    def __init__(self, node: Node) -> None:
        self.node = node


class _Walker:
    """Turns a composed node tree into plain data, recording lines and problems."""

    def __init__(self, file: str, *, json_mode: bool) -> None:
        self.file = file
        self.json_mode = json_mode
        self.lines: dict[Loc, int] = {}
        self.problems: list[Problem] = []
        self._constructor = yaml.SafeLoader("")
        self._open: set[int] = set()
        self._seen: set[int] = set()
        self._budget = MAX_ALIAS_VALUES

    def report(self, node: Node, message: str) -> None:
        self.problems.append(Problem(self.file, node.start_mark.line + 1, message))

    def walk(self, node: Node, path: Loc) -> Any:
        if id(node) in self._open:
            self.report(node, "an alias refers to a value that contains it (recursive alias)")
            return None
        if id(node) in self._seen:
            # Walked before: an alias repeats it, and all it holds.
            self._budget -= 1
            if self._budget < 0:
                raise _TooManyValues
        else:
            self._seen.add(id(node))
        if len(path) > MAX_DEPTH:
            raise _TooDeep(node)
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        self._open.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return self._sequence(node, path)
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
        finally:
            self._open.discard(id(node))
        return None

    def _scalar(self, node: ScalarNode) -> Any:
        if self.json_mode:
            if node.style:  # quoted (libyaml reports plain scalars as "", PyYAML as None)
                return node.value
            try:
                return json.loads(node.value)
            except ValueError:
                self.report(node, f"{node.value!r} is not a JSON value; quote text values")
                return None
        try:
            value = self._constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as error:
            self.report(node, f"cannot read this value: {error.problem}")
            return None
        if isinstance(value, dt.date | dt.datetime):
            return value.isoformat()
        if isinstance(value, bytes):
            self.report(node, "binary values (!!binary) are not supported")
            return None
        return value

    def _sequence(self, node: SequenceNode, path: Loc) -> list[Any]:
        if node.tag != _SEQ_TAG:
            self.report(node, f"unsupported tag {node.tag}; write a plain list")
        items: list[Any] = []
        for index, item in enumerate(node.value):
            self.lines[(*path, index)] = item.start_mark.line + 1
            items.append(self.walk(item, (*path, index)))
        return items

    def _mapping(self, node: MappingNode, path: Loc) -> dict[str, Any]:
        if node.tag != _MAP_TAG:
            self.report(node, f"unsupported tag {node.tag}; write a plain mapping")
        result: dict[str, Any] = {}
        merges = [value for key, value in node.value if key.tag == _MERGE_TAG]
        # YAML merge keys: earlier sources win over later ones, the mapping's own keys over all.
        for source in reversed(merges):
            sources = source.value if isinstance(source, SequenceNode) else [source]
            for merged in reversed(sources):
                if not isinstance(merged, MappingNode):
                    self.report(merged, "'<<' merges mappings only")
                    continue
                result.update(self.walk(merged, path) or {})
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            if not isinstance(key_node, ScalarNode):
                self.report(key_node, "a key must be plain text, not a list or a mapping")
                continue
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in first_line:
                self.problems.append(
                    Problem(
                        self.file,
                        line,
                        f"duplicate key '{key}' (first at line {first_line[key]}); "
                        "only one value per key is allowed",
                    )
                )
            else:
                first_line[key] = line
            self.lines[(*path, key)] = line
            result[key] = self.walk(value_node, (*path, key))
        return result


def parse_source(text: str, *, file: str, json_mode: bool = False) -> SourceDocument:
    """Parse YAML (or JSON, with JSON scalar rules) text; problems are returned, never raised."""
    if json_mode:
        # A literal tab is never valid inside a JSON string, so every tab here is whitespace,
        # which the YAML scanner would otherwise refuse.
        text = text.replace("\t", " ")
    walker = _Walker(file, json_mode=json_mode)
    try:
        root = yaml.compose(text, Loader=_COMPOSER)
    except yaml.MarkedYAMLError as error:
        return SourceDocument(file, None, [_syntax_problem(file, error)], {})
    except yaml.reader.ReaderError as error:
        line = text[: error.position].count("\n") + 1
        message = f"unacceptable character #x{error.character:04x}; remove it"
        return SourceDocument(file, None, [Problem(file, line, message)], {})
    except yaml.YAMLError as error:
        return SourceDocument(file, None, [Problem(file, 1, f"invalid YAML: {error}")], {})
    except RecursionError:
        message = f"values are nested more than {MAX_DEPTH} levels deep; flatten them"
        return SourceDocument(file, None, [Problem(file, 1, message)], {})
    if root is None:
        return SourceDocument(file, None, [], {(): 1})
    walker.lines[()] = root.start_mark.line + 1
    try:
        data = walker.walk(root, ())
    except _TooManyValues:
        message = (
            f"aliases repeat more than {MAX_ALIAS_VALUES:,} values (aliases nested in "
            "aliases?); write the values out, or use fewer levels of aliases"
        )
        return SourceDocument(file, None, [Problem(file, 1, message)], {})
    except _TooDeep as error:
        line = error.node.start_mark.line + 1
        message = f"values are nested more than {MAX_DEPTH} levels deep; flatten them"
        return SourceDocument(file, None, [Problem(file, line, message)], {})
    return SourceDocument(file, data, walker.problems, walker.lines)


def _syntax_problem(file: str, error: yaml.MarkedYAMLError) -> Problem:
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark is not None else 1
    message = f"invalid YAML: {error.problem or error.context or 'syntax error'}"
    if error.context and error.problem and error.problem.startswith("but "):
        # PyYAML splits "expected X but found Y" across context and problem.
        message = f"invalid YAML: {error.context} {error.problem}"
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
        raise InvalidFileError([Problem(file, 0, "file not found")]) from None
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
        return SourceDocument(file, None, [Problem(file, line, message)], {})
    return parse_source(text, file=file, json_mode=path.suffix.lower() == ".json")
