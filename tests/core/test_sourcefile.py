"""Plain data with a line for every value, from YAML or JSON, problems instead of tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import InvalidFileError, Problem
from core.sourcefile import load_source, parse_source

TEXT = """\
# a comment
name: haulflow
when: 2025-03-14
at: 2025-03-14 09:30:00
schedule:
  on: status
  no: NO
items:
  - first
  - {key: second,
     value: 2}
"""


def test_data_keeps_safe_load_types_with_dates_as_text() -> None:
    document = parse_source(TEXT, file="f.yaml")

    assert document.problems == []
    assert document.data == {
        "name": "haulflow",
        "when": "2025-03-14",
        "at": "2025-03-14T09:30:00",
        "schedule": {"on": "status", "no": False},
        "items": ["first", {"key": "second", "value": 2}],
    }


def test_every_path_has_its_line() -> None:
    document = parse_source(TEXT, file="f.yaml")

    assert document.line_of(()) == 2
    assert document.line_of(["schedule", "on"]) == 6
    assert document.line_of(["items", 1]) == 10
    assert document.line_of(["items", 1, "value"]) == 11
    # A path that does not exist stops at its deepest existing part.
    assert document.line_of(["schedule", "missing", 3]) == 5
    assert document.problem(["items", 0], "bad") == Problem("f.yaml", 9, "bad")


ITEMS = """\
orders:
  -
    reference: A
    pickup:
      country: FR

      at: 2026-12-01
  - {reference: B,
     pickup: {country: FR,
              at: x}}
  - &c
    reference: C
    stops: [{city: Lyon},
            {city: Metz}]
  - *c
  - <<: *c
    reference: E
  - just text
settings:
  tasks:
    - key: a
      schedule: {on: created}
"""


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (["orders", 0], 3),
        (["orders", 0, "pickup", "at"], 7),
        (["orders", 0, "pickup", "missing"], 4),
        (["orders", 1, "pickup", "at"], 10),
        (["orders", 2, "stops", 1, "city"], 14),
        # An alias: deeper paths stop at the alias, which is where the value is used.
        (["orders", 3, "stops"], 15),
        (["orders", 4, "reference"], 17),
        (["orders", 4, "stops"], 16),
        (["orders", 5, "anything"], 18),
        (["orders", 6], 1),
        (["settings", "tasks", 0, "schedule", "on"], 22),
    ],
)
def test_lines_inside_items_are_found_again_from_the_text(path: list[str | int], line: int) -> None:
    document = parse_source(ITEMS, file="f.yaml")

    assert document.problems == []
    assert document.line_of(path) == line


def test_lines_inside_json_items() -> None:
    text = '{"orders": [\n  {"reference": "A",\n   "pickup": {"at": 1}},\n  {"b": [1,\n 2]}]}\n'
    document = parse_source(text, file="f.json", json_mode=True)

    assert [
        document.line_of(["orders", 0, "pickup", "at"]),
        document.line_of(["orders", 1, "b", 1]),
    ] == [3, 5]


def test_a_list_as_a_key_drops_that_pair_only() -> None:
    document = parse_source("a: 1\n? [1, 2]\n: {x: 1}\nb: 2\n", file="f.yaml")

    assert [problem.line for problem in document.problems] == [2]
    assert document.data == {"a": 1, "b": 2}


def test_duplicate_keys_are_problems() -> None:
    document = parse_source("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n", file="f.yaml")

    assert [str(problem) for problem in document.problems] == [
        "f.yaml:4: duplicate key 'c' (first at line 3); only one value per key is allowed",
        "f.yaml:5: duplicate key 'a' (first at line 1); only one value per key is allowed",
    ]


def test_merge_keys_are_not_duplicates() -> None:
    document = parse_source("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n", file="f.yaml")

    assert document.problems == []
    assert document.data["use"] == {"x": 1, "y": 3}
    assert document.line_of(["use", "y"]) == 4


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("a: [1\nb: 2\n", 2, "expected ',' or ']'"),
        ("a: 1\n---\nb: 2\n", 2, "expected a single document"),
        ("a: 1\nb: \x07\n", 2, "unacceptable character #x0007"),
        ("a: &x [*x]\n", 1, "recursive alias"),
        ("a: !python/object:os.system x\n", 1, "cannot read this value"),
        ("a: !!binary aGk=\n", 1, "binary values"),
        ("a: !!int twelve\n", 1, "cannot read this value"),
        ("a: *nowhere\n", 1, "undefined alias 'nowhere'"),
        ("a: &x 1\nb: &x 2\n", 2, "the anchor &x is defined twice (first at line 1)"),
        ("a: {<<: [1]}\n", 1, "'<<' merges mappings only"),
        ("? [1, 2]\n: x\n", 1, "a key must be plain text"),
    ],
)
def test_syntax_errors_are_located_problems(text: str, line: int, words: str) -> None:
    document = parse_source(text, file="f.yaml")

    assert [problem.line for problem in document.problems] == [line]
    assert words in document.problems[0].message


def test_json_files_get_lines_and_json_scalars(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text('{\n\t"a": 1e3,\n\t"b": "NO",\n\t"c": [true, null]\n}\n', encoding="utf-8")

    document = load_source(path, display="data.json")

    assert document.problems == []
    assert document.data == {"a": 1000.0, "b": "NO", "c": [True, None]}
    assert document.line_of(["c", 0]) == 4
    assert document.file == "data.json"


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidFileError, match="nope.yaml: file not found; check the path"):
        load_source(tmp_path / "nope.yaml", display="nope.yaml")

    (tmp_path / "latin1.yaml").write_bytes(b"a: 1\nb: caf\xe9\n")
    document = load_source(tmp_path / "latin1.yaml")
    assert [(problem.line, problem.message) for problem in document.problems] == [
        (2, "the file is not UTF-8 text; save it as UTF-8")
    ]
    assert document.data is None


def test_empty_file_has_no_data() -> None:
    document = parse_source("# only a comment\n", file="f.yaml")

    assert (document.data, document.problems, document.line_of(["x"])) == (None, [], 1)


def test_a_json_syntax_error_is_named_in_json_words_at_its_line() -> None:
    one_line = parse_source('{"orders": [}', file="body", json_mode=True)
    truncated = parse_source('{\n  "orders": [\n', file="body", json_mode=True)

    assert [(p.line, p.message) for p in one_line.problems] == [
        (1, "invalid JSON: Expecting value (column 13)")
    ]
    assert [(p.line, p.message) for p in truncated.problems] == [
        (3, "invalid JSON: Expecting value (column 1)")
    ]
