"""A large import runs a bounded number of SQL statements: rows are read and written in batches."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from ingestion.importer import import_file
from models import Category, Order, StatusChange
from tests.statements import counted_statements

ORDERS = 2_000

PARTIES = """\
parties:
  - {reference: ACME, kind: customer, name: ACME, country: FR, language: fr,
     timezone: Europe/Paris, contacts: [{email: ops@acme.example, roles: [operations]}]}
  - {reference: BETA, kind: customer, name: Beta, country: NL, language: nl,
     timezone: Europe/Amsterdam}
"""


def orders_file(path: Path, status: str) -> Path:
    """A file of ORDERS orders split between two customers."""
    lines = [PARTIES, "orders:\n"]
    for number in range(ORDERS):
        customer = "ACME" if number % 2 else "BETA"
        lines.append(
            f"  - {{reference: ORD-{number:05d}, customer: {customer}, "
            f"customer_reference: PO-{number}, status: {status}, amount: '{number}.50', "
            f"currency: EUR, pickup: {{country: FR, at: '2026-12-01T08:00'}}}}\n"
        )
    path.write_text("".join(lines), encoding="utf-8")
    return path


def test_thousands_of_orders_take_a_bounded_number_of_statements(
    engine: Engine, session: Session, tmp_path: Path
) -> None:
    with counted_statements(engine) as statements:
        report = import_file(orders_file(tmp_path / "a.yaml", "planned"), session=session, by="t")
        session.commit()

    assert report.counts["orders"].created == ORDERS
    assert len(report.created[Category.ORDER]) == ORDERS
    assert len(statements) < 100, statements

    with counted_statements(engine) as statements:
        report = import_file(orders_file(tmp_path / "b.yaml", "loaded"), session=session, by="t")
        session.commit()

    assert report.counts["orders"].updated == ORDERS
    assert len(statements) < 100, statements
    changes = select(func.count()).select_from(StatusChange)
    assert session.exec(changes.where(StatusChange.to_status == "loaded")).one() == ORDERS
    loaded = select(func.count()).select_from(Order).where(Order.status == "loaded")
    assert session.exec(loaded).one() == ORDERS
