"""A resend goes over the dispatcher's wire: what went out and what did not is said."""

from __future__ import annotations

import pytest
from sqlmodel import select

from core.errors import HaulflowError
from delivery.resend import resend_task
from models import Communication, Task, TaskStatus
from storage.folder import FolderStore
from tests.mailroom import Mailroom, pdf


class _ArchiveFails(FolderStore):
    """Scans read and written as usual; archiving an e-mail finds the disk full."""

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        if key.startswith("emails/"):
            raise OSError(28, "No space left on device")
        super().put(key, data, content_type=content_type)


def _sent_task(room: Mailroom) -> Task:
    room.configure()
    order = room.order()
    room.upload(order, "pod", pdf("pod"))
    room.upload(order, "cmr", pdf("cmr"))
    room.drain()
    return room.session.exec(select(Task)).one()


def test_a_resend_accepted_but_not_recorded_is_named(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    task = _sent_task(room)
    assert isinstance(room.store, FolderStore)

    with pytest.raises(HaulflowError) as raised:
        resend_task(task_id=task.id, store=_ArchiveFails(room.store.root), by="alice")

    message = str(raised.value)
    assert "the server accepted <" in message and "could not be recorded" in message
    assert "No space left on device" in message and "not in the communication log" in message
    assert len(room.sink.received) == 2  # it did go out
    room.session.expire_all()
    assert len(room.session.exec(select(Communication)).all()) == 1
    assert room.session.get_one(Task, task.id).status == TaskStatus.DONE


def test_a_resend_records_each_message_with_who_asked(folder_mailroom: Mailroom) -> None:
    room = folder_mailroom
    task = _sent_task(room)

    resent = resend_task(task_id=task.id, store=room.store, by="alice", to="check@carrier.example")

    assert (resent.problem(), resent.planned, len(resent.sent)) == (None, 1, 1)
    room.session.expire_all()
    rows = room.session.exec(select(Communication).order_by(Communication.sent_at)).all()
    assert [(row.requested_by, row.cause) for row in rows][1] == (
        "alice",
        "resend by alice to check@carrier.example",
    )
    assert rows[1].message_id == resent.sent[0].message_id
    assert room.sink.received[1].rcpt_tos == ("check@carrier.example",)
