"""Generation: one task per matching definition, idempotent in the database, in bulk."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from lifecycle.generation import active_definitions, generate_tasks, pending_entity_ids
from models import Category, Order, Task, TaskEvent, TaskStatus
from tests.factories import make_contact, make_order, make_party, make_task
from tests.lifecycle.support import NOW, Configure, Generate, events_of, tasks_of
from tests.statements import counted_statements

TWO_TASKS = """
orders:
  - {key: check-order, name: Check, responsible: "role:operations", schedule: {on: created}}
  - key: send-confirmation
    name: Send the confirmation
    execution: automatic
    mailbox: pod
    intended_for: {roles: [operations]}
    email: EMAIL
  - {key: later, name: Created by hand only, auto_generate: false}
"""


def configure_two_tasks(configure: Configure) -> None:
    configure(TWO_TASKS)


def test_generation_creates_one_task_per_auto_generated_definition(
    session: Session, configure: Configure, generate: Generate
) -> None:
    configure_two_tasks(configure)
    customer = make_party(session)
    make_contact(session, customer, "operations", email="ops@customer.example")
    order = make_order(session, customer, created_at=NOW - timedelta(hours=1))

    report = generate(Category.ORDER, order)

    tasks = tasks_of(session, order.id)
    assert sorted(tasks) == ["check-order", "send-confirmation"]
    assert tasks["check-order"].status == TaskStatus.OPEN
    assert tasks["check-order"].responsible == "role:operations"
    assert tasks["check-order"].due_at == order.created_at
    assert tasks["send-confirmation"].status == TaskStatus.READY
    assert [r["email"] for r in tasks["send-confirmation"].recipients] == ["ops@customer.example"]
    assert (report.entities, report.created, report.already_present) == (1, 2, 0)
    assert set(report.created_task_ids) == {task.id for task in tasks.values()}
    assert report.summary() == "1 entity: 2 tasks created, 0 already present, 0 not matching"
    history = events_of(session, tasks["check-order"])
    assert [(e.from_status, e.to_status, e.by, e.at) for e in history] == [
        (None, "open", "generator", NOW)
    ]
    assert history[0].note == "configuration version 1"
    assert session.get(Order, order.id).tasks_generated_at == NOW  # type: ignore[union-attr]


def test_generating_twice_creates_nothing_new(
    session: Session, configure: Configure, generate: Generate
) -> None:
    configure_two_tasks(configure)
    order = make_order(session)
    first = generate(Category.ORDER, order)

    second = generate(Category.ORDER, order, now=NOW + timedelta(hours=1))

    assert (first.created, second.created, second.already_generated) == (2, 0, 1)
    assert second.summary().endswith("; 1 entity skipped (already generated or missing)")
    assert session.exec(select(func.count()).select_from(TaskEvent)).one() == 2
    assert session.get(Order, order.id).tasks_generated_at == NOW  # type: ignore[union-attr]


def test_the_database_refuses_a_second_task_of_one_definition(
    session: Session, configure: Configure, generate: Generate
) -> None:
    configure_two_tasks(configure)
    order = make_order(session)
    definition = active_definitions(session=session, category=Category.ORDER)[0]
    existing = make_task(session, order, definition.id, definition.key, status="done")

    report = generate(Category.ORDER, order)

    assert (report.created, report.already_present) == (1, 1)
    tasks = tasks_of(session, order.id)
    assert tasks["check-order"].id == existing.id
    assert tasks["check-order"].status == "done"
    assert events_of(session, tasks["check-order"]) == []


def test_cancelled_entities_get_no_tasks_but_are_marked_generated(
    session: Session, configure: Configure, generate: Generate
) -> None:
    configure_two_tasks(configure)
    order = make_order(session, status="cancelled")

    report = generate(Category.ORDER, order)

    assert tasks_of(session, order.id) == {}
    assert (report.entities, report.cancelled, report.created) == (1, 1, 0)
    assert pending_entity_ids(session=session, category=Category.ORDER, limit=10) == []


def test_skip_execution_creates_the_task_skipped(
    session: Session, configure: Configure, generate: Generate
) -> None:
    configure("orders:\n  - {key: tacho, name: Tachograph, execution: skip}\n")
    order = make_order(session)

    generate(Category.ORDER, order)

    task = tasks_of(session, order.id)["tacho"]
    assert (task.status, task.completed_at, task.completed_by) == ("skipped", NOW, "generator")
    assert [e.to_status for e in events_of(session, task)] == ["skipped"]


def test_pending_entities_are_the_ungenerated_ones_oldest_first(
    session: Session, configure: Configure, generate: Generate
) -> None:
    configure_two_tasks(configure)
    old = make_order(session, created_at=NOW - timedelta(days=2))
    new = make_order(session, created_at=NOW - timedelta(days=1))
    done = make_order(session, created_at=NOW - timedelta(days=3))
    generate(Category.ORDER, done)

    assert pending_entity_ids(session=session, category=Category.ORDER, limit=10) == [
        old.id,
        new.id,
    ]
    assert pending_entity_ids(session=session, category=Category.ORDER, limit=1) == [old.id]


def test_active_definitions_are_those_of_the_latest_version_in_order(
    session: Session, configure: Configure
) -> None:
    configure_two_tasks(configure)
    configure("orders:\n  - {key: b, name: B}\n  - {key: a, name: A}\n")

    definitions = active_definitions(session=session, category=Category.ORDER)

    assert [(d.key, d.config_version_id) for d in definitions] == [("b", 2), ("a", 2)]
    assert active_definitions(session=session, category=Category.TRIP) == []


def test_unknown_ids_are_ignored(session: Session, configure: Configure) -> None:
    configure_two_tasks(configure)

    report = generate_tasks(
        session=session, category=Category.ORDER, entity_ids=[uuid.uuid4()], now=NOW, by="x"
    )

    assert (report.entities, report.created, report.already_generated) == (0, 0, 1)


def test_concurrent_generations_of_the_same_entities_create_one_set(
    engine: Engine, session: Session, configure: Configure
) -> None:
    configure_two_tasks(configure)
    orders = [make_order(session) for _ in range(30)]
    session.commit()
    ids = [order.id for order in orders]
    barrier = threading.Barrier(2)
    created: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with Session(engine) as own:
                barrier.wait(timeout=10)
                report = generate_tasks(
                    session=own, category=Category.ORDER, entity_ids=ids, now=NOW, by="worker"
                )
                own.commit()
                created.append(report.created)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(created) == [0, 60]
    session.expire_all()
    assert session.exec(select(func.count()).select_from(Task)).one() == 60
    assert session.exec(select(func.count()).select_from(TaskEvent)).one() == 60


def test_generating_a_thousand_orders_takes_a_bounded_number_of_statements(
    engine: Engine, session: Session, configure: Configure
) -> None:
    configure(
        """
        orders:
          - {key: a, name: A, intended_for: {roles: [operations]}}
          - {key: b, name: B, intended_for: {roles: [customer], trip_contacts: true}}
          - {key: c, name: C, schedule: {on: date, date: delivery_at, offset: "+2h"}}
          - {key: d, name: D, conditions: {field: amount, op: gt, value: 1000}}
        """,
        fallback_role="operations",
    )
    customers = [make_party(session) for _ in range(10)]
    for customer in customers:
        make_contact(session, customer, "operations")
    rows = [_order_row(customers[index % 10].id, index) for index in range(1000)]
    session.execute(sa.insert(Order.__table__), rows)  # type: ignore[attr-defined]
    with counted_statements(engine) as statements:
        report = generate_tasks(
            session=session,
            category=Category.ORDER,
            entity_ids=[row["id"] for row in rows],
            now=NOW,
            by="generator",
        )

    assert (report.entities, report.created, report.not_matching) == (1000, 3500, 500)
    assert len(statements) < 60, "\n".join(statements)


def _order_row(customer_id: uuid.UUID, index: int) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "reference": f"BULK-{index:05d}",
        "customer_id": customer_id,
        "status": "planned",
        "delivery_at": NOW + timedelta(days=2),
        "amount": Decimal("1500.00") if index % 2 else Decimal("500.00"),
        "created_at": NOW - timedelta(minutes=index),
        "updated_at": NOW,
    }
