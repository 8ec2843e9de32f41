"""Every hostile case of `cases.py`: the expected outcome, in bounded time and memory.

On SQLite (the cases are about input, not the engine). Each case's wall time is bounded
(10 s) and its memory: Python allocations in this process (tracemalloc) and the largest
child process it started (1 GB each).
"""

from __future__ import annotations

import os
import resource
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from core.database import engine_for
from core.settings import get_settings
from storage.folder import FolderStore
from tests.hostile.cases import CASES, Bench, Case
from tests.hostile.table import DOCUMENT, render
from tests.servers import SmtpSink

MAX_SECONDS = 10.0
MAX_BYTES = 1_000_000_000
RESULTS: dict[str, str] = {}

# What each case's result must contain.
EXPECTED = {
    "1a": "refused: party ACME: contacts.name: '=?utf-8?q?x=0D=0ABcc:_spy@evil.example.com?=' "
    "contains an RFC 2047 encoded word that hides U+000D CARRIAGE RETURN",
    "1b": "customer_reference: '=?utf-8?q?x=0D=0ABcc:_spy@evil.example.com?=' contains an "
    "RFC 2047 encoded word",
    "1c": "contains an RFC 2047 encoded word that hides U+000D CARRIAGE RETURN",
    "2a": "U+00FC LATIN SMALL LETTER U WITH DIAERESIS before the @ and haulflow sends to ASCII",
    "2b": "stored pod@xn--mller-transporte-jzb.example",
    "2c": "contains U+2028 LINE SEPARATOR (a line break)",
    "2d": "6 sent, statuses ['done', 'done', 'done', 'done', 'done', 'done', 'failed']",
    "3a": "refused: is unbounded (template line 1): the template computes a number",
    "3b": "refused: is unbounded (template line 1): the template builds a value of 1,000,000,000",
    "3c": "refused: is unbounded (template line 1): the template asks for a width of 200,000,000",
    "3d": "the template prints a TemplateReference",
    "3e": "the template takes more than 2 s to render",
    "4a": "stored from 'Transports [/b] Martin' <pod@carrier.example>",
    "4b": "is an address itself",
    "4c": "too long before the @-sign",
    "5a": "exit 0: recorded pod pod.pdf for order ORD-[/x]",
    "5b": "apply exit 0",
    "6a": "aliases repeat more than 100,000 values",
    "6b": "… (1,000,000 characters)",
    "6c": "the limit is 60,000,000 (HAULFLOW_MAX_IMPORT_BYTES)",
    "6d": "exit 1: error: scan.pdf is larger than the limit of 20,000,000 bytes",
    "6e": "values are nested more than 64 levels deep",
    "6f": "exit 1: error: cannot use the database",
    "7a": "orders: ['ORD-1']",
    "7b": "U+043E CYRILLIC SMALL LETTER O before the @",
    "8a": "would send the password unencrypted",
    "8b": "must name where the password is kept",
}


@pytest.fixture
def bench(
    sqlite_database: str, smtp_sink: SmtpSink, quick_retries: None, tmp_path: Path
) -> Iterator[Bench]:
    from tests.mailroom import Mailroom

    with Session(engine_for(sqlite_database), expire_on_commit=False) as session:
        store = FolderStore(get_settings().resolved_documents_dir)
        yield Bench(session, tmp_path, Mailroom(session, store, smtp_sink))


@pytest.mark.parametrize("case", CASES, ids=[case.number for case in CASES])
def test_hostile_case(case: Case, bench: Bench) -> None:
    tracemalloc.start()
    started = time.monotonic()
    try:
        result = case.run(bench)
        seconds = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    # The test's own folder differs from run to run; the table must not.
    result = result.replace(str(bench.folder), "TMP")
    RESULTS[case.number] = result
    assert EXPECTED[case.number] in result, result
    assert "Traceback" not in result and "traceback" not in result
    assert seconds < MAX_SECONDS, f"{case.number} took {seconds:.1f} s"
    assert peak < MAX_BYTES and children < MAX_BYTES, (peak, children)


def test_the_table_in_the_docs_is_what_the_cases_did(bench: Bench) -> None:
    for case in CASES:
        if case.number not in RESULTS:  # run on its own (-k): try the cases it lacks
            RESULTS[case.number] = case.run(bench).replace(str(bench.folder), "TMP")
    rows = [(case.number, case.name, case.given, case.expected) for case in CASES]
    document = render(rows, RESULTS)
    if os.environ.get("HAULFLOW_TEST_WRITE_HOSTILE_TABLE"):
        DOCUMENT.write_text(document, encoding="utf-8")
    assert DOCUMENT.read_text(encoding="utf-8") == document, (
        "docs/hostile-input.md is stale: "
        "HAULFLOW_TEST_WRITE_HOSTILE_TABLE=1 ./dev test tests/hostile"
    )
