"""Schedules: local-calendar offsets across DST, and the status a task is created in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from lifecycle.schedules import Plan, apply_offset, plan_task, status_reached
from lifecycle.snapshots import EntitySnapshot
from models import Category, TaskStatus
from models.configuration.scalars import parse_offset
from models.definitions import TaskSpec
from tests.factories import make_invoice, make_order, make_party
from tests.lifecycle.support import NOW, Configure, Generate, tasks_of

PARIS = ZoneInfo("Europe/Paris")


def paris(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("moment", "offset", "expected"),
    [
        # +3d across the March change: same wall-clock time, one hour less elapsed.
        (paris(2026, 3, 27, 10), "+3d", datetime(2026, 3, 30, 8, tzinfo=UTC)),
        # -1d across the October change (25 Oct, 03:00): 10:00 CET back to 10:00 CEST.
        (paris(2026, 10, 25, 10), "-1d", datetime(2026, 10, 24, 8, tzinfo=UTC)),
        # Hours are elapsed time: 01:30 CET + 2h is 04:30 CEST on the night of the change.
        (paris(2026, 3, 29, 1, 30), "+2h", datetime(2026, 3, 29, 2, 30, tzinfo=UTC)),
        # Days first, then elapsed hours, both backwards for a negative offset.
        (paris(2026, 3, 30, 10), "-1d2h", datetime(2026, 3, 29, 6, tzinfo=UTC)),
        # 02:30 does not exist on 29 March in Paris: it moves forward by the gap.
        (paris(2026, 3, 28, 2, 30), "+1d", datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
        (paris(2026, 3, 27, 10), "0", datetime(2026, 3, 27, 9, tzinfo=UTC)),
    ],
)
def test_offsets_move_days_on_the_local_calendar(
    moment: datetime, offset: str, expected: datetime
) -> None:
    delta = parse_offset(offset)
    assert isinstance(delta, timedelta)

    assert apply_offset(moment, delta, "Europe/Paris") == expected


def test_status_order_follows_the_catalog_and_cancelled_reaches_nothing() -> None:
    assert status_reached("order", "delivered", "in_transit")
    assert status_reached("order", "delivered", "delivered")
    assert not status_reached("order", "loaded", "delivered")
    assert not status_reached("order", "cancelled", "planned")


def test_invoice_reminder_is_due_three_local_days_after_its_due_date(
    session: Session, configure: Configure, generate: Generate
) -> None:
    configure(
        """
        invoices:
          - key: remind
            name: Remind
            schedule: {on: date, date: due_at, offset: "+3d"}
          - key: warn
            name: Warn the day before
            schedule: {on: date, date: due_at, offset: "-1d"}
        """
    )
    march = make_invoice(session, make_party(session), due_at=paris(2026, 3, 27, 10))
    october = make_invoice(session, make_party(session), due_at=paris(2026, 10, 25, 10))

    generate(Category.INVOICE, march, october, now=datetime(2026, 3, 1, tzinfo=UTC))

    remind = tasks_of(session, march.id)["remind"]
    assert (remind.status, remind.due_at) == ("scheduled", datetime(2026, 3, 30, 8, tzinfo=UTC))
    assert remind.due_at.astimezone(PARIS).hour == 10  # type: ignore[union-attr]
    warn = tasks_of(session, october.id)["warn"]
    assert warn.due_at == datetime(2026, 10, 24, 8, tzinfo=UTC)


def test_creation_status_by_trigger(
    session: Session, configure: Configure, generate: Generate
) -> None:
    configure(
        """
        orders:
          - {key: on-created, name: A, schedule: {on: created, offset: "+1h"}}
          - {key: later, name: B, schedule: {on: created, offset: "+2d"}}
          - key: on-documents
            name: C
            execution: automatic
            mailbox: pod
            intended_for: {addresses: [desk@carrier.example]}
            schedule: {on: documents}
            required_documents: [pod, cmr]
            email: EMAIL
          - {key: on-delivered, name: D, schedule: {on: status, status: delivered}}
          - {key: on-loaded, name: E, schedule: {on: status, status: loaded}}
          - {key: after-delivery, name: F,
              schedule: {on: date, date: delivery_at, offset: "+2h"}}
          - {key: after-pickup, name: G, schedule: {on: date, date: pickup_at}}
        """
    )
    order = make_order(
        session,
        status="in_transit",
        created_at=NOW - timedelta(hours=3),
        pickup_at=NOW - timedelta(hours=1),
        delivery_at=None,
    )

    generate(Category.ORDER, order)

    tasks = tasks_of(session, order.id)
    assert {key: (task.status, task.due_at) for key, task in tasks.items()} == {
        "on-created": ("open", NOW - timedelta(hours=2)),
        "later": ("scheduled", NOW - timedelta(hours=3) + timedelta(days=2)),
        "on-documents": ("waiting_for_documents", None),
        "on-delivered": ("scheduled", None),
        "on-loaded": ("open", NOW),
        "after-delivery": ("scheduled", None),
        "after-pickup": ("open", NOW - timedelta(hours=1)),
    }


def test_documents_already_recorded_make_the_task_due_at_once(session: Session) -> None:
    order = make_order(session, created_at=NOW - timedelta(minutes=5))
    snapshot = EntitySnapshot(
        category=Category.ORDER,
        id=order.id,
        reference=order.reference,
        status="delivered",
        created_at=order.created_at,
        fields={},
        timezone="Europe/Paris",
        document_types=frozenset({"pod", "cmr", "other"}),
    )
    stored = {"schedule": {"on": "documents", "offset": "0"}, "required_documents": ["pod", "cmr"]}
    spec = TaskSpec.read(stored)

    plan = plan_task(spec=spec, execution="automatic", snapshot=snapshot, now=NOW)

    assert plan == Plan(TaskStatus.READY, order.created_at)
