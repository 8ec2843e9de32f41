"""`entity_tasks`: an entity's tasks in configured order with their history (the order page)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from core.errors import NotFoundError
from lifecycle.actions import finish_tasks
from lifecycle.entities import EntityRef
from lifecycle.entity_page import entity_tasks, is_overdue, overdue_before
from lifecycle.generation import generate_tasks
from lifecycle.history import record_creation, record_transition
from models import Category, StatusChange, Task, TaskDefinition, TaskStatus
from tests.factories import apply_config, make_order, make_task

HEADER = """\
schema_version: 1
carrier: {name: Transports Test}
users:
  - {username: alice, name: Alice, email: alice@carrier.example}
tasks:
  orders:
"""
# Keys in anything but alphabetical order, so only positions can explain the result.
VERSION_1 = (
    HEADER
    + """\
    - {key: send-pod, name: Send POD, execution: manual}
    - {key: check-delivery, name: Check delivery, execution: manual}
    - {key: archive, name: Archive, execution: skip}
"""
)
VERSION_2 = (
    HEADER
    + """\
    - {key: check-delivery, name: Check delivery, execution: manual}
    - {key: send-pod, name: Send POD, execution: manual}
    - {key: archive, name: Archive, execution: skip}
    - {key: call-customer, name: Call customer, execution: manual}
"""
)

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 2, 14, 5, tzinfo=UTC)


def definition_ids(session: Session, version: int) -> dict[str, TaskDefinition]:
    """The definitions of one configuration version by key."""
    statement = select(TaskDefinition).where(TaskDefinition.config_version_id == version)
    return {definition.key: definition for definition in session.exec(statement)}


def test_entity_page_lists_tasks_in_configured_order_with_history(session: Session) -> None:
    apply_config(session, VERSION_1)
    order = make_order(session, reference="ORD-1", created_at=T0)
    other = make_order(session, reference="ORD-2")
    v1 = definition_ids(session, 1)
    apply_config(session, VERSION_2)
    v2 = definition_ids(session, 2)
    # Created in reverse order: the page must not follow creation or key order.
    make_task(session, order, v2["call-customer"].id, "call-customer", created_at=T0)
    make_task(session, order, v1["archive"].id, "archive", status=TaskStatus.SKIPPED)
    check = make_task(session, order, v1["check-delivery"].id, "check-delivery", due_at=T0)
    send = Task(
        definition_id=v1["send-pod"].id,
        definition_key="send-pod",
        category="order",
        entity_id=order.id,
        status=TaskStatus.WAITING_FOR_DOCUMENTS,
        recipients=[{"email": "ops@customer.example"}, {"email": "pod@customer.example"}],
    )
    record_creation(session=session, task=send, by="generate-tasks", now=T0)
    record_transition(
        session=session, task=send, to_status=TaskStatus.DONE, by="alice", now=NOW, note="sent"
    )
    make_task(session, other, v1["send-pod"].id, "send-pod")
    session.add(
        StatusChange(
            category="order",
            entity_id=order.id,
            from_status="planned",
            to_status="delivered",
            changed_at=T0 + timedelta(hours=30),
            changed_by="import",
        )
    )
    session.commit()

    page = entity_tasks(session=session, ref=EntityRef(Category.ORDER, "ORD-1"))

    assert (str(page.entity), page.entity.status, page.entity.created_at) == (
        "order ORD-1",
        "planned",
        T0,
    )
    assert [(line.from_status, line.to_status, line.by) for line in page.status_history] == [
        (None, "planned", "factory"),
        ("planned", "delivered", "import"),
    ]
    # Tasks of version 1 keep version 1's positions; the version 2 task comes after.
    assert [task.key for task in page.tasks] == [
        "send-pod",
        "check-delivery",
        "archive",
        "call-customer",
    ]
    first = page.tasks[0]
    assert (first.name, first.execution, first.config_version) == ("Send POD", "manual", 1)
    assert (first.status, first.completed_by, first.completed_at) == ("done", "alice", NOW)
    assert (first.recipients, first.short_id) == (2, send.id.hex[:8])
    assert [(h.from_status, h.to_status, h.by, h.at, h.note) for h in first.history] == [
        (None, "waiting_for_documents", "generate-tasks", T0, None),
        ("waiting_for_documents", "done", "alice", NOW, "sent"),
    ]
    assert page.tasks[1].id == check.id
    assert page.tasks[1].is_overdue(NOW) and not page.tasks[0].is_overdue(NOW)
    assert page.tasks[3].config_version == 2


def test_entity_page_as_json(session: Session) -> None:
    apply_config(session, VERSION_1)
    order = make_order(session, reference="ORD-7")
    v1 = definition_ids(session, 1)
    task = make_task(session, order, v1["check-delivery"].id, "check-delivery", due_at=NOW)
    record_transition(session=session, task=task, to_status=TaskStatus.DONE, by="alice", now=NOW)
    session.commit()

    page = entity_tasks(session=session, ref=EntityRef(Category.ORDER, "ORD-7"))
    data = json.loads(json.dumps(page.to_json()))

    assert data["entity"]["reference"] == "ORD-7"
    assert data["entity"]["category"] == "order"
    [row] = data["tasks"]
    assert (row["id"], row["key"], row["due_at"]) == (
        str(task.id),
        "check-delivery",
        NOW.isoformat(),
    )
    assert row["history"] == [
        {
            "at": NOW.isoformat(),
            "from_status": "open",
            "to_status": "done",
            "by": "alice",
            "note": None,
            "flow_run_id": None,
        }
    ]


def test_entity_without_tasks_has_an_empty_page(session: Session) -> None:
    make_order(session, reference="ORD-EMPTY")
    session.commit()
    page = entity_tasks(session=session, ref=EntityRef(Category.ORDER, "ORD-EMPTY"))
    assert page.tasks == () and len(page.status_history) == 1


def test_unknown_entity_is_named(session: Session) -> None:
    with pytest.raises(NotFoundError, match="order NOPE"):
        entity_tasks(session=session, ref=EntityRef(Category.ORDER, "NOPE"))


def test_generated_tasks_on_the_page_then_finished_by_hand(session: Session) -> None:
    apply_config(session, VERSION_2)
    # Created at T0, generated at T0: a fixed clock, whatever today is.
    order = make_order(session, reference="ORD-GEN", created_at=T0)
    generate_tasks(
        session=session, category=Category.ORDER, entity_ids=[order.id], now=T0, by="generator"
    )
    session.commit()
    ref = EntityRef(Category.ORDER, "ORD-GEN")
    page = entity_tasks(session=session, ref=ref)
    assert [task.key for task in page.tasks] == [
        "check-delivery",
        "send-pod",
        "archive",
        "call-customer",
    ]
    # Execution `skip` creates the task already skipped.
    archive = page.tasks[2]
    assert [(h.from_status, h.to_status, h.by) for h in archive.history] == [
        (None, "skipped", "generator")
    ]

    finish_tasks(
        session=session,
        task_ids=[page.tasks[0].short_id, page.tasks[3].short_id],
        outcome="done",
        by="alice",
        note="done by phone",
        now=NOW,
    )
    session.commit()

    page = entity_tasks(session=session, ref=ref)
    assert [task.status for task in page.tasks] == ["done", "open", "skipped", "done"]
    last = page.tasks[0].history[-1]
    assert (last.to_status, last.by, last.at, last.note) == ("done", "alice", NOW, "done by phone")


def test_a_task_due_today_is_due_not_overdue_until_the_carriers_day_ends() -> None:
    # 2027-03-28: Paris moves to summer time at 01:00 UTC; the day has 23 hours.
    morning = datetime(2027, 3, 28, 7, 0, tzinfo=UTC)
    just_before_midnight = datetime(2027, 3, 28, 21, 59, tzinfo=UTC)  # 23:59 CEST
    just_after = datetime(2027, 3, 28, 22, 1, tzinfo=UTC)  # 00:01 CEST, the 29th
    assert overdue_before(morning) == datetime(2027, 3, 27, 23, 0, tzinfo=UTC)  # CET midnight
    assert not is_overdue("open", morning, just_before_midnight)
    assert is_overdue("open", morning, just_after)
    assert not is_overdue("done", morning, just_after)
    # A manual task due at its entity's creation is not overdue the moment it exists.
    assert not is_overdue("open", morning, morning + timedelta(seconds=1))


def test_history_notes_give_times_in_the_carriers_timezone_like_the_page(session: Session) -> None:
    from delivery.claims import postpone_task

    apply_config(session, VERSION_1)
    order = make_order(session, reference="ORD-TZ", created_at=T0)
    definition = definition_ids(session, 1)["send-pod"]
    task = make_task(session, order, definition.id, "send-pod", status=TaskStatus.SENDING)
    task.attempts = 1
    postpone_task(session=session, task=task, error="451 try later", now=NOW, by="dispatch")
    session.commit()

    [line] = entity_tasks(session=session, ref=EntityRef(Category.ORDER, "ORD-TZ")).tasks[0].history
    # 14:05 UTC + 60 s of backoff is 15:06 in Paris in December: CET, as the page shows it.
    assert line.note == "attempt 1 failed, next at 2026-12-02 15:06:00 CET: 451 try later"
