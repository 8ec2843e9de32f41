"""Rescheduling after entity updates, and scheduled tasks becoming due on time."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from lifecycle.history import record_transition
from lifecycle.rescheduling import promote_due_tasks, reschedule_entities
from models import Category, Order, TaskStatus
from tests.factories import make_order
from tests.lifecycle.support import EMAIL, NOW, Configure, Generate, events_of, tasks_of

TASKS = f"""
orders:
  - {{key: send-pod-manual, name: Send POD, schedule: {{on: status, status: delivered}}}}
  - {{key: check-delivery, name: Check, schedule: {{on: date, date: delivery_at, offset: "+2h"}}}}
  - {{key: welcome, name: Welcome, schedule: {{on: created}}}}
  - key: notify-delivery
    name: Notify
    execution: automatic
    mailbox: pod
    intended_for: {{addresses: [desk@carrier.example]}}
    schedule: {{on: date, date: delivery_at}}
    email: {EMAIL}
"""


def _update(session: Session, order: Order, **values: object) -> None:
    for name, value in values.items():
        setattr(order, name, value)
    session.add(order)
    session.flush()


def _reschedule(session: Session, order: Order, minutes: int = 0) -> int:
    return reschedule_entities(
        session=session,
        category=Category.ORDER,
        entity_ids=[order.id],
        now=NOW + timedelta(minutes=minutes),
        by="import",
    )


def test_a_status_triggered_task_waits_for_its_status_then_becomes_due(
    session: Session, configure: Configure, generate: Generate
) -> None:
    configure(TASKS)
    order = make_order(session, created_at=NOW - timedelta(hours=1))
    generate(Category.ORDER, order)
    assert tasks_of(session, order.id)["send-pod-manual"].status == "scheduled"

    _update(session, order, status="in_transit")
    assert _reschedule(session, order) == 0
    _update(session, order, status="delivered")
    assert _reschedule(session, order, minutes=5) == 1
    assert _reschedule(session, order, minutes=10) == 0

    task = tasks_of(session, order.id)["send-pod-manual"]
    assert (task.status, task.due_at) == ("open", NOW + timedelta(minutes=5))
    assert [(e.from_status, e.to_status, e.by, e.note) for e in events_of(session, task)] == [
        (None, "scheduled", "generator", "configuration version 1"),
        ("scheduled", "open", "import", "order reached delivered"),
    ]


def test_moving_the_date_moves_due_at(
    session: Session, configure: Configure, generate: Generate
) -> None:
    configure(TASKS)
    order = make_order(session, delivery_at=NOW + timedelta(days=2))
    generate(Category.ORDER, order)
    assert tasks_of(session, order.id)["check-delivery"].due_at == NOW + timedelta(days=2, hours=2)

    _update(session, order, delivery_at=NOW + timedelta(days=3))
    assert _reschedule(session, order) == 2
    tasks = tasks_of(session, order.id)
    assert tasks["check-delivery"].due_at == NOW + timedelta(days=3, hours=2)
    assert tasks["check-delivery"].status == "scheduled"

    # Delivered early: the date is now past, so both date tasks are due at once.
    _update(session, order, delivery_at=NOW - timedelta(hours=3))
    assert _reschedule(session, order) == 2
    tasks = tasks_of(session, order.id)
    assert (tasks["check-delivery"].status, tasks["check-delivery"].due_at) == (
        "open",
        NOW - timedelta(hours=1),
    )
    assert tasks["notify-delivery"].status == "ready"
    assert events_of(session, tasks["check-delivery"])[-1].note == (
        "delivery_at moved: due 2026-11-30 12:00 CET"
    )


def test_cancelling_an_order_cancels_its_unfinished_tasks_and_leaves_done_ones(
    session: Session, configure: Configure, generate: Generate
) -> None:
    configure(TASKS)
    order = make_order(session, created_at=NOW - timedelta(hours=1))
    generate(Category.ORDER, order)
    done = tasks_of(session, order.id)["welcome"]
    record_transition(session=session, task=done, to_status=TaskStatus.DONE, by="alice", now=NOW)
    session.flush()

    _update(session, order, status="cancelled")
    assert _reschedule(session, order) == 3

    tasks = tasks_of(session, order.id)
    assert {key: task.status for key, task in tasks.items()} == {
        "send-pod-manual": "cancelled",
        "check-delivery": "cancelled",
        "notify-delivery": "cancelled",
        "welcome": "done",
    }
    last = events_of(session, tasks["check-delivery"])[-1]
    assert (last.to_status, last.by, last.note) == (
        "cancelled",
        "import",
        f"order {order.reference} cancelled",
    )
    assert tasks["check-delivery"].completed_by == "import"


def test_scheduled_tasks_become_due_when_their_moment_passes(
    session: Session, configure: Configure, generate: Generate
) -> None:
    configure(TASKS)
    order = make_order(
        session, created_at=NOW - timedelta(hours=1), delivery_at=NOW + timedelta(hours=1)
    )
    generate(Category.ORDER, order)

    assert promote_due_tasks(session=session, now=NOW) == 0
    assert promote_due_tasks(session=session, now=NOW + timedelta(hours=2)) == 1
    assert promote_due_tasks(session=session, now=NOW + timedelta(hours=4)) == 1

    tasks = tasks_of(session, order.id)
    assert (tasks["notify-delivery"].status, tasks["check-delivery"].status) == ("ready", "open")
    assert tasks["send-pod-manual"].status == "scheduled"  # no due_at until delivered
    last = events_of(session, tasks["check-delivery"])[-1]
    assert (last.from_status, last.to_status, last.by) == ("scheduled", "open", "automation")
