"""Fixtures for import tests: write a file into tmp_path and import it into the test database."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import Session, SQLModel, func, select

from ingestion.importer import ImportReport, import_file

ImportText = Callable[..., ImportReport]


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[..., Path]:
    """Write dedented text to a file of tmp_path and return its path."""

    def write(text: str, name: str = "entities.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def import_text(session: Session, write_file: Callable[..., Path]) -> ImportText:
    """Import dedented YAML text and commit, as `haulflow import` does."""

    def run(text: str, name: str = "entities.yaml", by: str = "tester") -> ImportReport:
        report = import_file(write_file(text, name), session=session, by=by)
        session.commit()
        return report

    return run


@pytest.fixture
def count_rows() -> Callable[[Session], dict[str, int]]:
    """A function giving the number of rows of every table."""

    def count(session: Session) -> dict[str, int]:
        return {
            table.name: session.exec(select(func.count()).select_from(table)).one()
            for table in SQLModel.metadata.sorted_tables
        }

    return count


@pytest.fixture(params=["chunks of 2,000", "one item per chunk"])
def every_chunk_size(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run a test with the import's own chunk size, then with every item in a chunk of its
    own, so checks and writes that span chunks (references, repeated keys, external
    references, credit notes) are exercised on small files."""
    if request.param == "one item per chunk":
        monkeypatch.setattr("ingestion.importer.CHUNK_SIZE", 1)
