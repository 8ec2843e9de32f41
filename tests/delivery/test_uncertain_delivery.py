"""The one uncertain case: the server accepted, then the run stopped before recording it.

Simulated by a store that refuses the archive write: the task stays `sending`, and once its
claim is stale the definition decides: send again with the same Message-ID, or hold.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from delivery.claims import release_stale_claims
from models import Communication, Task, TaskStatus, utcnow
from storage.base import DocumentStore, StoreError
from tests.mailroom import Mailroom, pdf


class ArchiveDown:
    """A store whose e-mail archive is unreachable while `down` is set."""

    def __init__(self, inner: DocumentStore) -> None:
        self.inner, self.down = inner, True
        self.location = inner.location
        self.get, self.exists, self.list = inner.get, inner.exists, inner.list

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        if self.down and key.startswith("emails/"):
            raise StoreError(f"cannot store {key!r}: archive unreachable")
        self.inner.put(key, data, content_type=content_type)


def _sent_then_lost(room: Mailroom, policy: str) -> Task:
    room.configure(uncertain=policy)
    order = room.order()
    room.upload(order, "pod", pdf("pod"))
    room.upload(order, "cmr", pdf("cmr"))
    archive = ArchiveDown(room.store)
    room.store = archive

    report = room.drain()

    [task] = room.session.exec(select(Task)).all()
    assert [problem.task_id for problem in report.uncertain] == [task.id]
    assert task.status == TaskStatus.SENDING
    assert len(room.sink.received) == 1
    archive.down = False
    return task


def _release(session: Session, minutes: int) -> list[object]:
    released = release_stale_claims(
        session=session, now=utcnow() + timedelta(minutes=minutes), by="sweep"
    )
    session.commit()
    session.expire_all()
    return list(released)


def test_resend_sends_again_with_the_same_message_id(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    task = _sent_then_lost(room, "resend")

    assert _release(room.session, minutes=5) == []  # a slow run is not a crashed one
    assert _release(room.session, minutes=20) == [task.id]
    room.drain()

    first, second = room.sink.received
    assert first.message["Message-ID"] == second.message["Message-ID"]
    assert room.session.get_one(Task, task.id).status == TaskStatus.DONE
    assert len(room.session.exec(select(Communication)).all()) == 1


def test_hold_leaves_it_to_a_person(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    task = _sent_then_lost(room, "hold")

    assert _release(room.session, minutes=20) == [task.id]
    room.drain()

    held = room.session.get_one(Task, task.id)
    assert held.status == TaskStatus.OPEN
    assert len(room.sink.received) == 1
