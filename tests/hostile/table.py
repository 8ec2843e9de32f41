"""docs/hostile-input.md: the table of hostile cases and what the suite saw them do.

Written by `test_hostile_input.py` from the results it observed (`python -m pytest
tests/hostile` with `HAULFLOW_TEST_WRITE_HOSTILE_TABLE=1` rewrites it); a test fails while the
committed file and the results disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "hostile-input.md"

HEADER = """\
# Hostile and unusual input

Each row is a case of `tests/hostile/cases.py`, run by the test suite the way such input
arrives (an import file, a configuration file, the console script, a dispatch, a template);
*result* is what the suite saw, written here by the suite itself (a test fails when this
file and the results disagree). Every case runs in under 10 s and 1 GB.

| # | case | input | expected | result |
|---|---|---|---|---|
"""


def cell(text: str, limit: int = 400) -> str:
    """Text for one table cell: one line, pipes escaped, bounded."""
    flat = " ".join(text.split()).replace("|", "\\\\|")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def render(cases: Sequence[tuple[str, str, str, str]], results: Mapping[str, str]) -> str:
    """The whole document for (number, name, given, expected) rows and their results."""
    rows = [
        f"| {number} | {name} | {cell(given)} | {expected} | {cell(results[number])} |"
        for number, name, given, expected in cases
    ]
    return HEADER + "\n".join(rows) + "\n"
