"""`haulflow serve` on a real Prefect server: events wake dispatch, the sweep is the backstop.

One served process per test (tests/deployments/conftest.py); uploads are recorded in this
process and announced with the same wake-up event the CLI emits. E-mails arrive at a real
SMTP server over TCP.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from core.events import document_uploaded_payload, emit_document_uploaded
from models import Order
from tests.deployments.conftest import SWEEP_SECONDS, wait_until
from tests.mailroom import Mailroom, pdf

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient


def _upload(room: Mailroom, prefect_api: str, order: Order, kind: str, *, announce: bool) -> None:
    room.upload(order, kind, pdf(f"{kind}-{order.reference}"))
    if announce:
        payload = document_uploaded_payload(
            order_reference=order.reference,
            document_type=kind,
            document_id=uuid.uuid4(),
            source="test",
        )
        emit_document_uploaded(payload, api_url=prefect_api)


def _received_for(room: Mailroom, order: Order) -> int:
    return sum(order.reference in r.message["Subject"] for r in room.sink.received)


def _dispatch_runs_since(client: SyncPrefectClient, since: datetime) -> int:
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
    )

    runs = client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=["dispatch"])),
        flow_run_filter=FlowRunFilter(
            expected_start_time=FlowRunFilterExpectedStartTime(after_=since)
        ),
        limit=200,
    )
    return len(runs)


def test_events_wake_dispatch_and_the_sweep_catches_what_they_miss(
    room: Mailroom, prefect_api: str, client: SyncPrefectClient, request: pytest.FixtureRequest
) -> None:
    room.configure()
    request.getfixturevalue("served")
    # The normal path: POD (nothing), then CMR (one e-mail), each announced.
    first = room.order()
    _upload(room, prefect_api, first, "pod", announce=True)
    _upload(room, prefect_api, first, "cmr", announce=True)
    wait_until(lambda: _received_for(room, first) == 1, 60, "the e-mail of the announced upload")

    # A duplicated event sends nothing more.
    _upload(room, prefect_api, first, "cmr", announce=True)
    # A dropped event: nothing announced, the scheduled sweep finds the ready task.
    second = room.order()
    _upload(room, prefect_api, second, "pod", announce=False)
    _upload(room, prefect_api, second, "cmr", announce=False)
    wait_until(
        lambda: _received_for(room, second) == 1, 3 * SWEEP_SECONDS + 30, "the sweep's e-mail"
    )
    assert _received_for(room, first) == 1

    # A burst: 20 orders, 40 announced uploads in a few seconds, become a few runs.
    burst = [room.order() for _ in range(20)]
    started = datetime.now(UTC)
    for order in burst:
        _upload(room, prefect_api, order, "pod", announce=True)
        _upload(room, prefect_api, order, "cmr", announce=True)
    wait_until(
        lambda: all(_received_for(room, order) == 1 for order in burst),
        90,
        "every e-mail of the burst",
    )
    elapsed = (datetime.now(UTC) - started).total_seconds()
    # One wake-up per 10-second bucket, plus the sweeps that ran meanwhile.
    assert _dispatch_runs_since(client, started) <= elapsed / 10 + 2 + elapsed / SWEEP_SECONDS
    assert len(room.sink.received) == 22
