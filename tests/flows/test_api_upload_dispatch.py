"""A scan uploaded through the HTTP API wakes the dispatcher as `documents upload` does."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
from sqlmodel import Session

from core.settings import get_settings
from flows.dispatcher import dispatcher
from models import Scope, utcnow
from services.tokens import create_token
from storage.folder import FolderStore
from tasks.outcomes import result_of
from tests.api_server import running_api
from tests.mailroom import Mailroom, pdf
from tests.servers import SmtpSink


def test_an_api_upload_is_sent_within_a_second_by_the_running_dispatcher(
    session: Session, smtp_sink: SmtpSink, quick_retries: None, prefect: str
) -> None:
    room = Mailroom(session, FolderStore(get_settings().resolved_documents_dir), smtp_sink)
    room.configure()
    order = room.order()
    room.upload(order, "pod", pdf("pod"))
    _, secret = create_token(name="driver-app", scopes=[Scope.WRITE], now=utcnow())
    uploaded: list[float] = []

    with running_api() as url:

        def upload_cmr() -> None:
            time.sleep(3)
            files = {"file": ("cmr.pdf", pdf("cmr"))}
            uploaded.append(time.monotonic())
            response = httpx.post(
                f"{url}/orders/{order.reference}/documents",
                data={"type": "cmr"},
                files=files,
                headers={"Authorization": f"Bearer {secret}"},
            )
            assert response.status_code == 201, response.text

        uploader = threading.Thread(target=upload_cmr)
        uploader.start()
        state = asyncio.run(dispatcher(lifetime_seconds=8, return_state=True))
        uploader.join()

    assert state.is_completed(), state
    assert result_of(state)["sent"] == 1
    [email] = room.sink.received
    assert order.reference in email.message["Subject"]
    assert email.received_at - uploaded[0] < 1.0
    attached = [part.get_filename() for part in email.message.iter_attachments()]
    assert len(attached) == 2
