"""`finish_tasks`: done and skip by hand, all or nothing, always in the history."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.errors import ConflictError, HaulflowError, NotFoundError
from lifecycle.actions import Outcome, finish_tasks
from models import Order, Task, TaskDefinition, TaskEvent, TaskStatus, User
from tests.factories import apply_config, make_order, make_task

CONFIG = """\
schema_version: 1
carrier: {name: Transports Test}
teams:
  - {key: customer-service, name: Service client}
users:
  - {username: alice, name: Alice, email: alice@carrier.example, teams: [customer-service]}
  - {username: bruno, name: Bruno, email: bruno@carrier.example}
tasks:
  orders:
    - {key: check-delivery, name: Check delivery, execution: manual}
    - {key: call-customer, name: Call customer, execution: manual}
"""

NOW = datetime(2026, 12, 2, 14, 5, tzinfo=UTC)


@pytest.fixture
def order(session: Session) -> Order:
    """An order with one open task per definition, committed."""
    apply_config(session, CONFIG)
    order = make_order(session, reference="ORD-1")
    for definition in session.exec(select(TaskDefinition).order_by(col(TaskDefinition.position))):
        make_task(session, order, definition.id, definition.key)
    session.commit()
    return order


def load_tasks(session: Session, order: Order) -> dict[str, Task]:
    """The order's tasks by key, as stored."""
    session.expire_all()
    tasks = session.exec(select(Task).where(Task.entity_id == order.id)).all()
    return {task.definition_key: task for task in tasks}


def load_events(session: Session, task: Task) -> list[TaskEvent]:
    """A task's history rows, oldest first."""
    statement = select(TaskEvent).where(TaskEvent.task_id == task.id)
    return list(session.exec(statement.order_by(col(TaskEvent.at))).all())


def finish(
    session: Session,
    task_ids: list[str],
    outcome: Outcome = "done",
    *,
    by: str = "alice",
    note: str | None = None,
) -> None:
    """Finish in a transaction of its own, rolled back on error as the CLI's is."""
    try:
        finish_tasks(session=session, task_ids=task_ids, outcome=outcome, by=by, note=note, now=NOW)
        session.commit()
    except BaseException:
        session.rollback()
        raise


def assert_unchanged(session: Session, order: Order) -> None:
    """Every task of the order still open, with no history row."""
    for task in load_tasks(session, order).values():
        assert (task.status, task.completed_at, task.completed_by) == ("open", None, None)
        assert load_events(session, task) == []


def test_done_records_who_when_and_note(session: Session, order: Order) -> None:
    task = load_tasks(session, order)["check-delivery"]
    finish(session, [str(task.id)], note="POD checked with the driver")
    task = load_tasks(session, order)["check-delivery"]
    assert (task.status, task.completed_by, task.completed_at) == ("done", "alice", NOW)
    [event] = load_events(session, task)
    assert (event.from_status, event.to_status, event.by, event.at) == (
        "open",
        "done",
        "alice",
        NOW,
    )
    assert event.note == "POD checked with the driver"
    assert load_tasks(session, order)["call-customer"].status == "open"


def test_skip_many_by_short_id(session: Session, order: Order) -> None:
    tasks = load_tasks(session, order)
    short_ids = [task.id.hex[:8] for task in tasks.values()]
    # The same task twice in one command is finished once.
    finish(session, [*short_ids, str(tasks["call-customer"].id)], "skip", by="bruno")
    for task in load_tasks(session, order).values():
        assert (task.status, task.completed_by) == ("skipped", "bruno")
        [event] = load_events(session, task)
        assert (event.from_status, event.to_status, event.by, event.note) == (
            "open",
            "skipped",
            "bruno",
            None,
        )


def test_finishing_twice_is_a_conflict(session: Session, order: Order) -> None:
    task = load_tasks(session, order)["check-delivery"]
    finish(session, [str(task.id)])
    with pytest.raises(ConflictError) as raised:
        finish(session, [task.id.hex[:8]], "skip", by="bruno")
    message = str(raised.value)
    assert f"task {task.id.hex[:8]} (check-delivery on order ORD-1)" in message
    assert "is already done by alice at 2026-12-02 15:05 CET; nothing changed" in message
    task = load_tasks(session, order)["check-delivery"]
    assert (task.status, task.completed_by) == ("done", "alice")
    assert len(load_events(session, task)) == 1


def test_a_finished_task_in_a_batch_changes_nothing(session: Session, order: Order) -> None:
    tasks = load_tasks(session, order)
    finish(session, [str(tasks["call-customer"].id)], "skip")
    with pytest.raises(ConflictError, match="already skipped by alice"):
        finish(session, [str(tasks["check-delivery"].id), str(tasks["call-customer"].id)])
    first = load_tasks(session, order)["check-delivery"]
    assert (first.status, first.completed_at) == ("open", None)
    assert load_events(session, first) == []


@pytest.mark.parametrize(
    ("bad_id", "message"),
    [
        (str(uuid.uuid4()), "no task "),
        ("0123abcd", "no task 0123abcd"),
        ("not-a-task", "'not-a-task' is not a task id"),
        ("1a2b", "'1a2b' is not a task id: give a task id or its first 8 characters"),
    ],
)
def test_unknown_or_malformed_id_changes_nothing(
    session: Session, order: Order, bad_id: str, message: str
) -> None:
    good = str(load_tasks(session, order)["check-delivery"].id)
    with pytest.raises(NotFoundError, match=message) as raised:
        finish(session, [good, bad_id])
    assert str(raised.value).endswith("nothing changed")
    assert_unchanged(session, order)


def test_unknown_user_is_refused_with_a_suggestion(session: Session, order: Order) -> None:
    task_id = str(load_tasks(session, order)["check-delivery"].id)
    with pytest.raises(NotFoundError) as raised:
        finish(session, [task_id], by="alic")
    message = str(raised.value)
    assert "unknown user 'alic'; did you mean 'alice'?" in message
    assert "add the user under `users:` in the configuration or import it" in message
    assert_unchanged(session, order)


def test_inactive_user_is_refused(session: Session, order: Order) -> None:
    bruno = session.exec(select(User).where(User.username == "bruno")).one()
    bruno.active = False
    session.add(bruno)
    session.commit()
    task_id = str(load_tasks(session, order)["check-delivery"].id)
    with pytest.raises(NotFoundError, match="user 'bruno' is inactive"):
        finish(session, [task_id], by="bruno")
    assert_unchanged(session, order)


def test_ambiguous_prefix_asks_for_more(session: Session) -> None:
    apply_config(session, CONFIG)
    order = make_order(session)
    definitions = session.exec(select(TaskDefinition).order_by(col(TaskDefinition.position)))
    ids = [
        uuid.UUID("1a2b3c4d-0000-4000-8000-000000000000"),
        uuid.UUID("1a2b3c4d-1000-4000-8000-000000000000"),
    ]
    for task_id, definition in zip(ids, definitions, strict=True):
        make_task(session, order, definition.id, definition.key, id=task_id)
    session.commit()
    with pytest.raises(NotFoundError, match="task id 1a2b3c4d matches several tasks"):
        finish(session, ["1a2b3c4d"])
    assert_unchanged(session, order)
    finish(session, ["1A2B3C4D-1"])
    assert load_tasks(session, order)["call-customer"].status == "done"


def test_a_task_being_sent_cannot_be_finished(session: Session, order: Order) -> None:
    task = load_tasks(session, order)["check-delivery"]
    task.status = TaskStatus.SENDING
    session.add(task)
    session.commit()
    with pytest.raises(ConflictError, match="is being sent right now"):
        finish(session, [str(task.id)])
    assert load_tasks(session, order)["check-delivery"].status == "sending"


def test_a_note_too_long_is_refused(session: Session, order: Order) -> None:
    task_id = str(load_tasks(session, order)["check-delivery"].id)
    with pytest.raises(HaulflowError, match="at most 2000 fit"):
        finish(session, [task_id], note="x" * 2001)
    assert_unchanged(session, order)


def test_two_people_finishing_one_task_at_once(
    engine: Engine, session: Session, order: Order
) -> None:
    task_id = str(load_tasks(session, order)["check-delivery"].id)
    finish_tasks(
        session=session, task_ids=[task_id], outcome="done", by="alice", note=None, now=NOW
    )
    session.flush()  # alice's change is written, not committed: her lock is held

    def finish_as_bruno() -> None:
        with Session(engine) as other:
            finish_tasks(
                session=other, task_ids=[task_id], outcome="skip", by="bruno", note=None, now=NOW
            )
            other.commit()

    with ThreadPoolExecutor(max_workers=1) as pool:
        bruno = pool.submit(finish_as_bruno)
        time.sleep(0.5)
        assert not bruno.done(), "bruno must wait for alice's transaction"
        session.commit()
        with pytest.raises(ConflictError, match="already done by alice"):
            bruno.result(timeout=30)
    task = load_tasks(session, order)["check-delivery"]
    assert (task.status, task.completed_by, len(load_events(session, task))) == ("done", "alice", 1)
