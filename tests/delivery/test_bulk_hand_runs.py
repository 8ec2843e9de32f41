"""A hand run over many older orders: page by page, stoppable, resumed without double sends.

Orders created before the configuration (no task), each with its POD and CMR; e-mails go to
a real SMTP server over TCP. The CLI's progress bar and Ctrl-C are in tests/cli.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from delivery.claims import claim_ready_tasks
from delivery.runs import RunPage, RunResult, run_by_hand
from models import Order, Task, TaskStatus, utcnow
from tests.factories import make_contact, make_order, make_party
from tests.mailroom import Mailroom, pdf


def _older_orders(room: Mailroom, count: int) -> list[Order]:
    """`count` orders of one customer, created before the configuration, scans uploaded."""
    session = room.session
    customer = make_party(session)
    make_contact(session, customer, "cmr-pod-processing", email="pod@customer.example")
    orders = [make_order(session, customer) for _ in range(count)]
    session.commit()
    room.configure()
    for order in orders:
        room.upload(order, "pod", pdf(f"pod {order.reference}", size=500))
        room.upload(order, "cmr", pdf(f"cmr {order.reference}", size=500))
    return orders


def alice_runs_everything(room: Mailroom, **options: Any) -> RunResult:
    """alice's hand run of send-pod over every order created before tomorrow."""
    return run_by_hand(
        key="send-pod",
        refs=[],
        created_before=utcnow() + timedelta(days=1),
        dry_run=False,
        by="alice",
        store=room.store,
        **options,
    )


def _subjects(room: Mailroom) -> list[str]:
    return [str(received.message["Subject"]) for received in room.sink.received]


def test_a_run_goes_page_by_page_and_reports_each(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    orders = _older_orders(room, 45)
    pages: list[tuple[int, int, int]] = []

    def seen(page: RunPage) -> None:
        pages.append((len(page.items), page.so_far.counts["entities"], page.so_far.total))

    result = alice_runs_everything(
        room,
        batch_size=20,
        on_page=seen,
    )

    assert pages == [(20, 20, 45), (20, 40, 45), (5, 45, 45)]
    assert result.counts["sent"] == 45 and result.counts["queued"] == 45
    subjects = _subjects(room)
    assert len(subjects) == len(set(subjects)) == 45  # each order's e-mail, once
    assert all(any(order.reference in subject for subject in subjects) for order in orders)


def test_a_run_stopped_between_pages_resumes_where_it_stopped(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    _older_orders(room, 30)
    pages: list[int] = []

    first = alice_runs_everything(
        room,
        batch_size=10,
        on_page=lambda page: pages.append(page.so_far.counts["entities"]),
        should_stop=lambda: len(pages) == 1,
    )
    assert first.stopped and first.counts["sent"] == 10 and len(room.sink.received) == 10

    again = alice_runs_everything(
        room,
        batch_size=10,
    )
    assert (again.counts["already_sent"], again.counts["sent"]) == (10, 20)
    assert len(room.sink.received) == 30 and len(set(_subjects(room))) == 30


def test_a_run_stopped_between_two_emails_gives_back_what_it_did_not_send(
    folder_mailroom: Mailroom,
) -> None:
    room = folder_mailroom
    _older_orders(room, 12)

    # Asked to stop once four e-mails reached the server, in the middle of the only page.
    first = alice_runs_everything(
        room,
        should_stop=lambda: len(room.sink.received) >= 4,
    )
    assert first.counts["sent"] == 4 and len(room.sink.received) == 4
    room.session.expire_all()
    tasks = room.session.exec(select(Task)).all()
    statuses = sorted(task.status for task in tasks)
    # Nothing left `sending`: the eight not begun are ready again, their attempt uncounted.
    assert statuses == [TaskStatus.DONE] * 4 + [TaskStatus.READY] * 8
    assert {task.attempts for task in tasks if task.status == TaskStatus.READY} == {0}

    again = alice_runs_everything(
        room,
    )
    assert (again.counts["already_sent"], again.counts["sent"]) == (4, 8)
    assert len(room.sink.received) == 12 and len(set(_subjects(room))) == 12


def test_the_dispatcher_the_run_wakes_never_takes_its_tasks(folder_mailroom: Mailroom) -> None:
    """The commit that queues a page's tasks also wakes the dispatcher; a task it claimed first
    would go out as the automation's, not as the person's. A stand-in dispatcher claims every
    ready automatic task right after each commit of the run: it finds none."""
    room = folder_mailroom
    orders = _older_orders(room, 3)
    taken: list[uuid.UUID] = []
    claiming = False

    def dispatcher_wakes(session: OrmSession) -> None:
        nonlocal claiming
        if claiming:  # its own commit
            return
        claiming = True
        try:
            with Session(room.session.get_bind()) as other:
                taken.extend(
                    claim_ready_tasks(session=other, now=utcnow(), by="dispatcher", limit=200)
                )
                other.commit()
        finally:
            claiming = False

    sa.event.listen(OrmSession, "after_commit", dispatcher_wakes)
    try:
        result = alice_runs_everything(
            room,
        )
    finally:
        sa.event.remove(OrmSession, "after_commit", dispatcher_wakes)

    assert taken == []
    assert result.counts["sent"] == 3 and len(room.sink.received) == 3
    room.session.expire_all()
    tasks = room.session.exec(select(Task).where(col(Task.entity_id).in_([o.id for o in orders])))
    assert {(task.status, task.completed_by) for task in tasks} == {(TaskStatus.DONE, "alice")}
