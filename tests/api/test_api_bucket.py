"""Scans that go straight into the bucket: a signed upload URL for a driver app, and the
bucket's notification pushed to the API (MinIO's webhook format), on moto's S3 server."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

import httpx
from sqlmodel import Session

from core.settings import get_settings
from models import Scope
from tests.api.conftest import MakeClient
from tests.inbox import Inbox
from tests.mailroom import Mailroom, pdf
from tests.servers import SmtpSink


def _signed_upload(room: Mailroom, client: MakeClient) -> tuple[str, str, bytes]:
    """An order with its POD in; its CMR PUT through a signed URL as a driver app does.
    The order's reference, the object's key and the bytes."""
    room.configure()
    order = room.order()
    room.upload(order, "pod", pdf("pod"))
    driver = client(Scope.WRITE)
    data = pdf("cmr")
    signed = driver.post(
        f"/orders/{order.reference}/upload-url",
        json={"type": "cmr", "filename": "CMR (1).pdf", "size": len(data)},
    )
    assert signed.status_code == 201, signed.text
    answer = signed.json()
    assert answer["method"] == "PUT" and answer["max_bytes"] > 0
    assert answer["headers"] == {"Content-Length": str(len(data))}
    assert answer["key"].startswith(f"haulflow/inbox/order/{order.reference}/cmr/")
    assert answer["key"].endswith("-CMR-1-.pdf")
    # Signature version 4 with the length among the signed headers: S3 and MinIO refuse a
    # body of another length (moto's server checks no signature, so this is all it shows).
    query = parse_qs(urlsplit(answer["url"]).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert "content-length" in query["X-Amz-SignedHeaders"][0].split(";")
    put = httpx.put(answer["url"], content=data)
    assert put.status_code == 200, put.text
    return order.reference, answer["key"], data


def _minio_event(bucket: str, key: str, size: int) -> dict[str, Any]:
    """The body MinIO's webhook target posts for one PUT."""
    return {
        "EventName": "s3:ObjectCreated:Put",
        "Key": f"{bucket}/{key}",
        "Records": [
            {
                "eventVersion": "2.0",
                "eventSource": "minio:s3",
                "awsRegion": "",
                "eventTime": "2026-12-07T08:00:00.000Z",
                "eventName": "s3:ObjectCreated:Put",
                "userIdentity": {"principalId": "driver-app"},
                "requestParameters": {"sourceIPAddress": "10.0.0.7"},
                "responseElements": {"x-amz-request-id": "17E5D0B0C0A0B0C0"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "Config",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "minio"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": quote_plus(key),
                        "size": size,
                        "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                        "contentType": "application/pdf",
                        "sequencer": "17E5D0B0C0A0B0C1",
                    },
                },
                "source": {"host": "10.0.0.7", "port": "", "userAgent": "driver-app/3.1"},
            }
        ],
    }


def test_a_signed_upload_is_recorded_through_the_bucket_queue(
    inbox: Inbox, session: Session, smtp_sink: SmtpSink, quick_retries: None, client: MakeClient
) -> None:
    room = Mailroom(session, inbox.store, smtp_sink)
    reference, key, _ = _signed_upload(room, client)

    report = inbox.handle()

    assert [drop.key for drop in report.recorded] == [key]
    assert len(room.drain().sent) == 1
    [email] = room.sink.received
    assert reference in email.message["Subject"]
    assert len(list(email.message.iter_attachments())) == 2


def test_a_signed_url_is_refused_for_a_scan_over_the_limit(
    inbox: Inbox, session: Session, smtp_sink: SmtpSink, client: MakeClient
) -> None:
    room = Mailroom(session, inbox.store, smtp_sink)
    order = room.order()
    driver = client(Scope.WRITE)
    limit = get_settings().max_document_bytes

    too_big = driver.post(
        f"/orders/{order.reference}/upload-url",
        json={"type": "pod", "filename": "pod.pdf", "size": limit + 1},
    )
    undeclared = driver.post(f"/orders/{order.reference}/upload-url", json={"type": "pod"})
    at_the_limit = driver.post(
        f"/orders/{order.reference}/upload-url", json={"type": "pod", "size": limit}
    )

    assert too_big.status_code == 422
    assert too_big.json()["detail"] == (
        f"pod.pdf is {limit + 1:,} bytes; the limit is {limit:,} "
        "(HAULFLOW_MAX_DOCUMENT_BYTES): compress or split the scan"
    )
    assert undeclared.status_code == 422
    assert undeclared.json()["detail"][0]["loc"] == ["body", "size"]
    assert at_the_limit.status_code == 201


def test_a_pushed_bucket_event_is_taken_in_as_listen_does(
    inbox: Inbox, session: Session, smtp_sink: SmtpSink, quick_retries: None, client: MakeClient
) -> None:
    room = Mailroom(session, inbox.store, smtp_sink)
    reference, key, data = _signed_upload(room, client)
    bucket = client(Scope.WRITE)
    event = _minio_event(inbox.bucket, key, len(data))

    pushed = bucket.post("/notifications/s3", json=event)
    again = bucket.post("/notifications/s3", json=event)

    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["recorded"] == [key]
    assert again.json()["already_recorded"] == [key] and again.json()["recorded"] == []
    assert len(room.drain().sent) == 1
    off = _minio_event(inbox.bucket, "haulflow/inbox/order/x.pdf", 10)
    refused = bucket.post("/notifications/s3", json=off)
    assert refused.status_code == 200
    assert "inbox convention" in refused.json()["refused"]["haulflow/inbox/order/x.pdf"]
    not_an_event = bucket.post("/notifications/s3", content=json.dumps({"hello": 1}))
    assert not_an_event.status_code == 422 and "Records" in not_an_event.json()["detail"]
    assert client(Scope.READ).post("/notifications/s3", json=event).status_code == 403


def test_signed_urls_need_the_s3_store_and_an_existing_order(
    room: Mailroom, client: MakeClient
) -> None:
    writer = client(Scope.WRITE)
    order = room.order()
    answer = writer.post(
        f"/orders/{order.reference}/upload-url", json={"type": "pod", "size": 1_000}
    )
    assert answer.status_code == 409 and "S3 store" in answer.json()["detail"]
