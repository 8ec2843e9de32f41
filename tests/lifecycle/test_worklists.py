"""`worklist`: tasks across entities by status, category, responsible, overdue, documents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from core.errors import HaulflowError, NotFoundError
from lifecycle.worklists import worklist
from models import Category, Order, TaskDefinition, TaskStatus
from tests.factories import apply_config, make_invoice, make_order, make_task
from tests.statements import counted_statements

CONFIG = """\
schema_version: 1
carrier: {name: Transports Test}
teams:
  - {key: customer-service, name: Service client}
  - {key: planning, name: Planning}
users:
  - {username: alice, name: Alice, email: alice@carrier.example, teams: [customer-service]}
  - {username: bruno, name: Bruno, email: bruno@carrier.example, teams: [planning]}
tasks:
  orders:
    - {key: check-delivery, name: Check delivery, execution: manual}
    - {key: collect-pod, name: Collect POD, execution: manual}
    - {key: customs-check, name: Customs check, execution: manual}
  invoices:
    - {key: check-invoice, name: Check invoice, execution: manual}
"""

NOW = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


@pytest.fixture
def world(session: Session) -> dict[str, str]:
    """Six tasks on two orders and an invoice; returns their short ids by name."""
    apply_config(session, CONFIG)
    definitions = {d.key: d.id for d in session.exec(select(TaskDefinition))}
    first = make_order(session, reference="ORD-A")
    second = make_order(session, reference="ORD-B")
    invoice = make_invoice(session, reference="INV-1")

    def task(entity: Any, key: str, responsible: str, status: str, **values: Any) -> str:
        values.setdefault("created_at", NOW - 2 * HOUR)
        made = make_task(
            session, entity, definitions[key], key, responsible=responsible, status=status, **values
        )
        return made.id.hex[:8]

    ids = {
        "overdue": task(first, "check-delivery", "user:alice", "open", due_at=NOW - DAY),
        "docs_old": task(
            first,
            "collect-pod",
            "team:customer-service",
            "waiting_for_documents",
            created_at=NOW - 5 * DAY,
        ),  # fmt: skip
        "upcoming": task(first, "customs-check", "user:alice", "scheduled", due_at=NOW + DAY),
        "failed": task(second, "check-delivery", "team:planning", "failed", last_error="SMTP 550"),
        "docs_new": task(
            second, "collect-pod", "role:customs", "waiting_for_documents", created_at=NOW - DAY
        ),
        "done": task(invoice, "check-invoice", "user:bruno", "done", due_at=NOW - 2 * DAY),
    }
    session.commit()
    return ids


def names(world: dict[str, str], rows: list[Any]) -> list[str]:
    """The fixture names of worklist rows, in row order."""
    by_id = {short: name for name, short in world.items()}
    return [by_id[row.short_id] for row in rows]


def run(session: Session, **filters: Any) -> list[Any]:
    """The worklist with only `filters` set."""
    values: dict[str, Any] = {
        "statuses": None,
        "category": None,
        "responsible": None,
        "overdue": False,
        "documents_missing_days": None,
        "now": NOW,
        "limit": 100,
    }
    return worklist(session=session, **(values | filters))


def test_by_status_soonest_due_first(session: Session, world: dict[str, str]) -> None:
    assert names(world, run(session, statuses=[TaskStatus.FAILED])) == ["failed"]
    rows = run(session, statuses=list(TaskStatus))
    # Due tasks by due moment, then the undated ones by creation.
    assert names(world, rows) == ["done", "overdue", "upcoming", "docs_old", "docs_new", "failed"]
    assert names(world, run(session, statuses=list(TaskStatus), limit=2)) == ["done", "overdue"]


def test_rows_name_their_entity_and_task(session: Session, world: dict[str, str]) -> None:
    [row] = run(session, statuses=[TaskStatus.FAILED])
    assert (row.entity, row.entity_reference, row.key, row.name) == (
        "order ORD-B",
        "ORD-B",
        "check-delivery",
        "Check delivery",
    )
    assert (row.last_error, row.overdue) == ("SMTP 550", False)
    assert row.to_json()["task_id"] == str(row.task_id)


def test_by_category(session: Session, world: dict[str, str]) -> None:
    [row] = run(session, category=Category.INVOICE)
    assert (names(world, [row]), row.entity) == (["done"], "invoice INV-1")


@pytest.mark.parametrize(
    ("responsible", "expected"),
    [
        ("alice", ["overdue", "upcoming", "docs_old"]),  # her own and her team's
        ("user:alice", ["overdue", "upcoming"]),
        ("team:planning", ["failed"]),
        ("bruno", ["done", "failed"]),
        ("role:customs", ["docs_new"]),
    ],
)
def test_by_responsible(
    session: Session, world: dict[str, str], responsible: str, expected: list[str]
) -> None:
    assert names(world, run(session, responsible=responsible)) == expected


@pytest.mark.parametrize(
    ("responsible", "error", "message"),
    [
        ("alic", NotFoundError, "unknown user 'alic'; did you mean 'alice'?"),
        ("team:plan", NotFoundError, "unknown team 'plan'; did you mean 'planning'?"),
        ("role:custom", NotFoundError, "unknown role 'custom'; did you mean 'customs'?"),
        ("boss:alice", HaulflowError, "'boss:alice' is not a responsible"),
    ],
)
def test_unknown_responsible_is_explained(
    session: Session, world: dict[str, str], responsible: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        run(session, responsible=responsible)


def test_overdue_leaves_out_finished_and_future(session: Session, world: dict[str, str]) -> None:
    assert names(world, run(session, overdue=True)) == ["overdue"]
    assert names(world, run(session, overdue=True, responsible="bruno")) == []


def test_documents_missing_for_days(session: Session, world: dict[str, str]) -> None:
    assert names(world, run(session, documents_missing_days=3)) == ["docs_old"]
    assert names(world, run(session, documents_missing_days=0)) == ["docs_old", "docs_new"]


def test_entities_are_looked_up_in_batches(session: Session, world: dict[str, str]) -> None:
    definition = session.exec(select(TaskDefinition)).first()
    assert definition is not None
    for number in range(20):
        order: Order = make_order(session, reference=f"ORD-BULK-{number}")
        make_task(session, order, definition.id, definition.key, status="failed")
    session.commit()
    with counted_statements(session.get_bind()) as statements:
        rows = run(session, statuses=[TaskStatus.FAILED, TaskStatus.DONE])
    assert len(rows) == 22
    # The tasks, then one lookup per category present (orders, invoices).
    assert len(statements) == 3
