"""Tasks keep what they were generated from; recalculation re-applies the configuration."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from core.errors import NotFoundError
from lifecycle.entities import parse_entity_ref
from lifecycle.history import record_transition
from lifecycle.recalculation import recalculate_entity
from models import Category, ContactRole, Order, TaskDefinition, TaskStatus
from tests.factories import make_contact, make_order, make_party
from tests.lifecycle.support import NOW, Configure, Generate, events_of, tasks_of

VERSION_1 = """
orders:
  - {key: check, name: Check, responsible: "role:operations"}
  - {key: notify, name: Notify, intended_for: {roles: [operations]}}
  - {key: on-delivered, name: On delivered, schedule: {on: status, status: delivered}}
"""

VERSION_2 = """
orders:
  - {key: check, name: Check, responsible: "role:quality"}
  - {key: notify, name: Notify, intended_for: {roles: [operations, billing]}}
  - key: on-delivered
    name: On delivered
    schedule: {on: date, date: delivery_at, offset: "-1d"}
  - {key: added, name: Added later}
  - {key: big-only, name: Big orders, conditions: {field: amount, op: gt, value: 100000}}
  - {key: by-hand, name: By hand, auto_generate: false}
"""


@pytest.fixture
def order(session: Session, configure: Configure, generate: Generate) -> Order:
    """An order generated under VERSION_1, whose customer has one operations contact."""
    configure(VERSION_1)
    customer = make_party(session)
    make_contact(session, customer, "operations", email="ops@c.example")
    make_contact(session, customer, "billing", email="billing@c.example")
    order = make_order(session, customer, reference="ORD-1", created_at=NOW - timedelta(hours=1))
    generate(Category.ORDER, order)
    return order


def test_a_new_configuration_or_contact_change_leaves_existing_tasks_alone(
    session: Session, configure: Configure, generate: Generate, order: Order
) -> None:
    before = {key: _state(task) for key, task in tasks_of(session, order.id).items()}
    version_1 = _definition_ids(session, 1)

    configure(VERSION_2)
    ops = session.exec(select(ContactRole).where(ContactRole.role_key == "operations")).one()
    session.delete(ops)
    make_contact(session, make_party(session), "operations")
    session.delete(session.exec(select(ContactRole).where(ContactRole.role_key == "billing")).one())
    session.flush()
    generate(Category.ORDER, order, now=NOW + timedelta(hours=1))

    after = tasks_of(session, order.id)
    assert {key: _state(task) for key, task in after.items()} == before
    assert {key: task.definition_id for key, task in after.items()} == version_1
    assert after["notify"].recipients[0]["email"] == "ops@c.example"


def test_contact_email_change_does_not_reach_existing_tasks(session: Session, order: Order) -> None:
    contact = make_contact(session, make_party(session), "operations", email="x@c.example")
    contact.email = "changed@c.example"
    session.add(contact)
    session.flush()

    assert tasks_of(session, order.id)["notify"].recipients[0]["email"] == "ops@c.example"


def test_recalculate_adds_missing_refreshes_unfinished_and_leaves_finished(
    session: Session, configure: Configure, order: Order
) -> None:
    check = tasks_of(session, order.id)["check"]
    record_transition(session=session, task=check, to_status=TaskStatus.DONE, by="alice", now=NOW)
    configure(VERSION_2)
    later = NOW + timedelta(hours=1)

    lines = recalculate_entity(
        session=session, ref=parse_entity_ref("order:ORD-1"), now=later, by="bruno"
    )

    assert lines == [
        "= check: done, left alone",
        "~ notify: definition version 1 -> 2, recipients +billing@c.example",
        "~ on-delivered: definition version 1 -> 2, due - -> 2026-12-01 14:00 CET",
        "+ added (open; due 2026-11-30 12:00 CET)",
        "- big-only: not created (conditions do not match)",
        "- by-hand: not created (auto_generate is off)",
    ]
    tasks = tasks_of(session, order.id)
    assert sorted(tasks) == ["added", "check", "notify", "on-delivered"]
    assert (tasks["check"].status, tasks["check"].responsible) == ("done", "role:operations")
    version_2 = _definition_ids(session, 2)
    assert tasks["notify"].definition_id == version_2["notify"]
    assert [r["email"] for r in tasks["notify"].recipients] == [
        "ops@c.example",
        "billing@c.example",
    ]
    assert order.delivery_at is not None
    assert tasks["on-delivered"].due_at == order.delivery_at - timedelta(days=1)
    notify_history = events_of(session, tasks["notify"])
    assert [(e.from_status, e.to_status, e.by) for e in notify_history][-1] == (
        "open",
        "open",
        "bruno",
    )
    assert notify_history[-1].note == (
        "recalculated: definition version 1 -> 2, recipients +billing@c.example"
    )
    assert events_of(session, tasks["added"])[0].by == "bruno"

    again = recalculate_entity(
        session=session, ref=parse_entity_ref("order:ORD-1"), now=later, by="bruno"
    )
    assert again[:4] == [
        "= check: done, left alone",
        "= notify: open, unchanged",
        "= on-delivered: scheduled, unchanged",
        "= added: open, unchanged",
    ]


def test_recalculate_cancels_unfinished_tasks_of_a_cancelled_entity(
    session: Session, order: Order
) -> None:
    order.status = "cancelled"
    session.add(order)

    lines = recalculate_entity(
        session=session, ref=parse_entity_ref("order:ORD-1"), now=NOW, by="bruno"
    )

    assert lines == [
        "~ check: status open -> cancelled",
        "~ notify: status open -> cancelled",
        "~ on-delivered: status scheduled -> cancelled",
    ]


def test_recalculate_names_an_unknown_entity(session: Session) -> None:
    with pytest.raises(NotFoundError, match="order ORD-404 does not exist"):
        recalculate_entity(
            session=session, ref=parse_entity_ref("order:ORD-404"), now=NOW, by="bruno"
        )


def _definition_ids(session: Session, version: int) -> dict[str, uuid.UUID]:
    statement = select(TaskDefinition).where(TaskDefinition.config_version_id == version)
    return {definition.key: definition.id for definition in session.exec(statement).all()}


def _state(task: object) -> tuple[object, ...]:
    names = ("status", "due_at", "responsible", "recipients", "definition_id", "updated_at")
    return tuple(getattr(task, name) for name in names)
