"""Automatic sending: open the document gates, claim ready e-mail tasks, send them, and the
dispatcher's shift (its lease and its wake-ups), each step in transactions of its own."""

from __future__ import annotations

import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from types import TracebackType

from core.database import get_engine, session_scope
from core.settings import get_settings
from core.wakeups import Waiter, ready_waiter
from delivery.claims import claim_ready_tasks
from delivery.dispatching import (
    BEAT_SECONDS,
    drop_lease,
    hold_lease,
    live_dispatchers,
    missing_dispatchers,
    superseded,
    work_waiting,
)
from delivery.dispatching import lease_id as lease_id
from delivery.reports import DeliveryReport as DeliveryReport
from delivery.reports import TaskProblem as TaskProblem
from delivery.sender import deliver_tasks
from lifecycle.document_gate import open_document_gates
from storage.factory import open_document_store


def open_gates(*, by: str) -> int:
    """Make due the tasks whose required documents are all recorded; how many."""
    with session_scope() as session:
        return len(open_document_gates(session=session, now=datetime.now(UTC), by=by))


def claim(
    *, limit: int, by: str, flow_run_id: uuid.UUID | None, due_by: datetime | None = None
) -> list[uuid.UUID]:
    """Move up to `limit` ready automatic e-mail tasks (due by `due_by`) to `sending`."""
    with session_scope() as session:
        return claim_ready_tasks(
            session=session,
            now=datetime.now(UTC),
            by=by,
            limit=limit,
            flow_run_id=flow_run_id,
            due_by=due_by,
        )


def send_claimed(
    task_ids: list[uuid.UUID], *, by: str, flow_run_id: uuid.UUID | None
) -> DeliveryReport:
    """Send claimed tasks, one SMTP connection per mailbox, each recorded as it goes."""
    return deliver_tasks(
        task_ids=task_ids,
        store=open_document_store(get_settings()),
        by=by,
        flow_run_id=flow_run_id,
    )


def send_ready(*, limit: int, by: str, flow_run_id: uuid.UUID | None) -> DeliveryReport:
    """Claim up to `limit` ready e-mail tasks and send them."""
    return send_claimed(
        claim(limit=limit, by=by, flow_run_id=flow_run_id), by=by, flow_run_id=flow_run_id
    )


def dispatchers_missing(replicas: int) -> int:
    """How many dispatchers should start to have `replicas` alive."""
    with session_scope() as session:
        return missing_dispatchers(session=session, replicas=replicas, now=datetime.now(UTC))


def live_leases() -> list[str]:
    """The leases of the dispatchers that beat recently."""
    with session_scope() as session:
        return [row.id for row in live_dispatchers(session=session, now=datetime.now(UTC))]


def end_lease(lease: str) -> None:
    """Drop a dispatcher's lease (its run is known to have ended)."""
    drop_lease(engine=get_engine(), lease=lease)


class Shift:
    """One dispatcher's lease and wake-ups, from `__enter__` to `__exit__`."""

    def __init__(self, *, lease: str, replicas: int) -> None:
        self.lease, self.replicas = lease, replicas
        self._engine = get_engine()
        self._stack = ExitStack()
        self._waiter: Waiter | None = None
        self._beaten = 0.0

    def __enter__(self) -> Shift:
        hold_lease(engine=self._engine, lease=self.lease, now=datetime.now(UTC))
        self._beaten = time.monotonic()
        self._waiter = self._stack.enter_context(ready_waiter(self._engine))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self._stack.close()
        finally:
            drop_lease(engine=self._engine, lease=self.lease)

    def work_waiting(self) -> bool:
        """An automatic e-mail task can be claimed now."""
        with session_scope() as session:
            return work_waiting(session=session, now=datetime.now(UTC))

    def wait(self, seconds: float) -> bool:
        """Block until a commit may have readied tasks, or `seconds`; True if woken."""
        assert self._waiter is not None, "a shift waits only between __enter__ and __exit__"
        return self._waiter.wait(seconds)

    def keep_going(self) -> bool:
        """Beat every `BEAT_SECONDS`; False once enough newer dispatchers took over."""
        if time.monotonic() - self._beaten < BEAT_SECONDS:
            return True
        now = datetime.now(UTC)
        hold_lease(engine=self._engine, lease=self.lease, now=now)
        self._beaten = time.monotonic()
        with session_scope() as session:
            return not superseded(
                session=session, lease=self.lease, replicas=self.replicas, now=now
            )
