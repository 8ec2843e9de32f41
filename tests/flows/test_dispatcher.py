"""The dispatcher flow on a real Prefect server: sends as commits wake it, ends by what it left.

Called in process with a short lifetime (the served runs, their handover and restarts are in
tests/deployments/test_serve.py); e-mails go to a real SMTP server over TCP.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from sqlmodel import Session, select

from core.settings import get_settings
from flows.dispatcher import dispatcher
from models import Task, TaskStatus
from storage.folder import FolderStore
from tasks.audit import artifact_key
from tasks.outcomes import result_of
from tests.mailroom import Mailroom, pdf
from tests.servers import SmtpSink

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient


@pytest.fixture
def room(session: Session, smtp_sink: SmtpSink, quick_retries: None) -> Mailroom:
    """A scenario whose store is the one the flow opens from the settings."""
    room = Mailroom(session, FolderStore(get_settings().resolved_documents_dir), smtp_sink)
    room.configure()
    return room


def _in_a_while(seconds: float, action: Callable[[], None]) -> threading.Thread:
    """Run `action` in a thread after `seconds`, while the dispatcher runs in this one."""

    def later() -> None:
        time.sleep(seconds)
        action()

    thread = threading.Thread(target=later)
    thread.start()
    return thread


def test_uploads_during_its_life_are_sent_at_once_and_listed(
    room: Mailroom, prefect_client: SyncPrefectClient
) -> None:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    early = room.order()
    room.upload(early, "pod", pdf("pod"))
    room.upload(early, "cmr", pdf("cmr"))  # ready before the dispatcher starts
    late = room.order()
    room.upload(late, "pod", pdf("pod"))
    uploaded: list[float] = []

    def upload_cmr() -> None:
        uploaded.append(time.monotonic())
        room.upload(late, "cmr", pdf("cmr"))

    uploader = _in_a_while(4, upload_cmr)
    state = asyncio.run(dispatcher(lifetime_seconds=10, return_state=True))
    uploader.join()

    assert state.is_completed(), state
    assert result_of(state)["sent"] == 2
    [late_email] = [r for r in room.sink.received if late.reference in r.message["Subject"]]
    assert late_email.received_at - uploaded[0] < 1.0
    run_id = state.state_details.flow_run_id
    run = prefect_client.read_flow_run(run_id)
    assert run.name.startswith("dispatcher until ") and "2 e-mails sent" in run.name
    room.session.expire_all()
    assert {t.completed_by for t in room.session.exec(select(Task))} == {f"flow-run:{run_id}"}
    artifacts = prefect_client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
    )
    listed = next(a for a in artifacts if a.key == "dispatcher-sent")
    assert early.reference in str(listed.data) and late.reference in str(listed.data)


def test_entity_pages_wait_until_no_email_does(
    room: Mailroom, monkeypatch: pytest.MonkeyPatch, prefect_client: SyncPrefectClient
) -> None:
    """Three ready orders in batches of one: every e-mail goes out before any order's page
    (its keyed artifact) is published, and then every page is, showing the task done."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows import dispatcher as module

    received_at_publication: list[int] = []
    publish = module.publish_entity_artifacts

    def counted(entities: list[str], *, seconds: float | None = None) -> int:
        received_at_publication.append(len(room.sink.received))
        return publish(entities, seconds=seconds)

    monkeypatch.setattr(module, "publish_entity_artifacts", counted)
    orders = [room.order() for _ in range(3)]
    for order in orders:
        room.upload(order, "pod", pdf("pod"))
        room.upload(order, "cmr", pdf("cmr"))
    state = asyncio.run(dispatcher(batch_size=1, lifetime_seconds=4, return_state=True))

    assert result_of(state)["sent"] == 3
    assert received_at_publication and set(received_at_publication) == {3}
    keys = [artifact_key(f"order:{order.reference}") for order in orders]
    pages = prefect_client.read_artifacts(
        artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys))
    )
    assert sorted(page.key for page in pages if page.key) == sorted(keys)
    assert all(json.loads(str(page.data))[0]["status"] == "done" for page in pages)


def test_pages_that_cannot_be_published_wait_instead_of_spinning(
    room: Mailroom, monkeypatch: pytest.MonkeyPatch, prefect_client: SyncPrefectClient
) -> None:
    """The Prefect server refusing the pages: the e-mail still goes out, and the dispatcher
    tries the pages again later (and once at its end), not in a loop."""
    attempts: list[int] = []

    def refused(entities: list[str], *, seconds: float | None = None) -> int:
        attempts.append(len(entities))
        raise RuntimeError("artifact endpoint unavailable")

    monkeypatch.setattr("flows.dispatcher.publish_entity_artifacts", refused)
    order = room.order()
    room.upload(order, "pod", pdf("pod"))
    room.upload(order, "cmr", pdf("cmr"))
    state = asyncio.run(dispatcher(lifetime_seconds=4, return_state=True))

    assert result_of(state)["sent"] == 1
    assert attempts == [1, 1]  # once while idle, once at the end


def test_a_postponed_task_makes_the_run_end_postponed_with_a_warning(
    room: Mailroom, monkeypatch: pytest.MonkeyPatch, prefect_client: SyncPrefectClient
) -> None:
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    monkeypatch.setenv("HAULFLOW_SEND_RETRY_BASE_SECONDS", "600")
    get_settings.cache_clear()
    order = room.order()
    room.sink.reply_next("451 4.3.0 try again later")
    room.upload(order, "pod", pdf("pod"))
    room.upload(order, "cmr", pdf("cmr"))
    state = asyncio.run(dispatcher(lifetime_seconds=3, return_state=True))

    assert (state.is_failed(), state.name) == (True, "Postponed")
    room.session.expire_all()
    assert room.session.exec(select(Task)).one().status == TaskStatus.READY
    run_id = state.state_details.flow_run_id
    deadline = time.monotonic() + 30
    wanted = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]))
    while not any(
        log.level == 30 and order.reference in log.message
        for log in prefect_client.read_logs(wanted)
    ):
        assert time.monotonic() < deadline, "no WARNING line naming the order"
        time.sleep(0.5)
