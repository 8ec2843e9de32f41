"""A failed import leaves the database as it was: checked before writing, rolled back after."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from core.errors import InvalidFileError
from ingestion.importer import import_file

# Each test also runs with every item in a chunk of its own.
pytestmark = pytest.mark.usefixtures("every_chunk_size")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "entities.yaml"

CountRows = Callable[[Session], dict[str, int]]


def test_a_file_with_a_problem_in_its_last_entity_writes_nothing(
    session: Session, write_file: Callable[..., Path], count_rows: CountRows
) -> None:
    import_file(EXAMPLE, session=session, by="alice")
    session.commit()
    before = count_rows(session)
    text = EXAMPLE.read_text().replace("ORD-1001", "ORD-2001").replace("ACME", "ACME2")
    text = text.replace("INV-2026-0001", "INV-9").replace("PINV-2026-0001", "PINV-9")
    text = text.replace("F-2026-1187", "F-2026-9999")
    broken = write_file(text.rstrip() + "\n    unexpected: key\n")

    with pytest.raises(InvalidFileError) as raised:
        import_file(broken, session=session, by="alice")

    [problem] = raised.value.problems
    assert "invoice PINV-9: unknown key 'unexpected'" in problem.message
    assert not session.new and not session.dirty
    session.commit()
    assert count_rows(session) == before


@pytest.fixture
def refused_invoice(engine: Engine, session: Session) -> Iterator[None]:
    """A database trigger that refuses the invoice INV-LAST, as a failing write would."""
    if engine.dialect.name == "sqlite":
        create = [
            "CREATE TRIGGER refuse_invoice BEFORE INSERT ON invoices "
            "WHEN NEW.reference = 'INV-LAST' BEGIN SELECT RAISE(ABORT, 'refused'); END"
        ]
        drop = ["DROP TRIGGER refuse_invoice"]
    else:
        create = [
            "CREATE FUNCTION refuse_invoice() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.reference = 'INV-LAST' THEN RAISE EXCEPTION 'refused'; END IF; "
            "RETURN NEW; END $$",
            "CREATE TRIGGER refuse_invoice BEFORE INSERT ON invoices "
            "FOR EACH ROW EXECUTE FUNCTION refuse_invoice()",
        ]
        drop = ["DROP TRIGGER refuse_invoice ON invoices", "DROP FUNCTION refuse_invoice()"]
    with engine.begin() as connection:
        for statement in create:
            connection.execute(sa.text(statement))
    yield
    session.close()  # its open transaction would block DROP TRIGGER on PostgreSQL
    with engine.begin() as connection:
        for statement in drop:
            connection.execute(sa.text(statement))


def test_a_database_error_midway_leaves_nothing_after_rollback(
    session: Session,
    write_file: Callable[..., Path],
    count_rows: CountRows,
    refused_invoice: None,
) -> None:
    before = count_rows(session)
    session.commit()
    text = EXAMPLE.read_text().replace("PINV-2026-0001", "INV-LAST")

    # The invoice comes in the third flushed stage: parties and orders are already written.
    with pytest.raises(DBAPIError, match="refused"):
        try:
            import_file(write_file(text), session=session, by="alice")
        finally:
            session.rollback()  # what `session_scope` does on any error

    assert count_rows(session) == before
