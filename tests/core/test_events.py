"""Wake-up events: one id per 10-second bucket, every payload key present, no server no error."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.events import (
    BUCKET_SECONDS,
    ENTITIES_CHANGED,
    emit_entities_changed,
    entities_changed_payload,
    wake_up_event_id,
)
from core.prefect_runtime import prefect_connection
from models import Category
from tests.prefect_server import free_port, stored_events

BUCKET_START = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_prefect_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PREFECT_API_URL", "PREFECT_PROFILE", "PREFECT_PROFILES_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))


def test_events_of_one_bucket_share_an_id_and_buckets_differ() -> None:
    first = wake_up_event_id(BUCKET_START)
    last = wake_up_event_id(BUCKET_START + timedelta(seconds=9, microseconds=999_999))
    following = wake_up_event_id(BUCKET_START + timedelta(seconds=10))

    assert first == last
    assert following != first
    assert wake_up_event_id(BUCKET_START) == first  # stable across calls and processes
    assert first.version == 5


def test_the_payload_has_every_key_even_at_zero() -> None:
    payload = entities_changed_payload(
        {Category.ORDER: [uuid.uuid4(), uuid.uuid4()]}, {}, reason="import"
    )

    assert payload == {
        "reason": "import",
        "created": {"order": 2, "booking": 0, "trip": 0, "invoice": 0},
        "changed": {"order": 0, "booking": 0, "trip": 0, "invoice": 0},
        "created_total": 2,
        "changed_total": 0,
    }


def test_without_a_server_nothing_is_emitted_and_nothing_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created = {Category.ORDER: [uuid.uuid4()]}
    assert emit_entities_changed(created, {}) is None
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")
    assert emit_entities_changed(created, {}) is None


def test_nothing_changed_emits_nothing() -> None:
    # Decided before looking for a server: this URL is never contacted.
    assert emit_entities_changed({}, {Category.TRIP: []}, api_url="http://unused.invalid") is None


def test_a_burst_in_one_bucket_reaches_the_server_as_one_event(prefect_api: str) -> None:
    from prefect.client.orchestration import get_client

    # The start of a bucket an hour ago: no other test of this session emits in it.
    an_hour_ago = int(time.time()) - 3600
    moment = datetime.fromtimestamp(an_hour_ago - an_hour_ago % BUCKET_SECONDS, UTC)
    created = {Category.ORDER: [uuid.uuid4()]}
    changed = {Category.INVOICE: [uuid.uuid4(), uuid.uuid4()]}

    first = emit_entities_changed(created, changed, now=moment, api_url=prefect_api)
    second = emit_entities_changed(
        {}, changed, now=moment + timedelta(seconds=9), api_url=prefect_api
    )

    assert first == second == wake_up_event_id(moment)
    assert first is not None
    with prefect_connection(prefect_api), get_client(sync_client=True) as client:
        stored_events(client, [first])
        time.sleep(2)  # time for the duplicate to be stored too, had the server kept it
        events = stored_events(client, [first])
    assert len(events) == 1
    assert events[0].event == ENTITIES_CHANGED
    assert events[0].resource.id == "haulflow.entities"
    assert events[0].related == []  # not tied to whatever flow run this process ran before
    assert events[0].payload["created"] == {"order": 1, "booking": 0, "trip": 0, "invoice": 0}
    assert events[0].payload["changed"]["invoice"] == 2
