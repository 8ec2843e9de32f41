"""S3 event messages and inbox keys are read exactly; anything else is named, not guessed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ingestion.inbox import RefusedDropError, parse_inbox_key
from ingestion.notifications import ObjectCreated, parse_s3_event
from lifecycle.entities import EntityRef
from models import Category, DocumentType


def s3_event(*records: tuple[str, str, int]) -> dict[str, Any]:
    """An S3 event notification in AWS's format (eventVersion 2.1)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "eu-west-1",
                "eventName": name,
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": "carrier-docs", "arn": "arn:aws:s3:::carrier-docs"},
                    "object": {"key": key, "size": size, "eTag": "0"},
                },
            }
            for name, key, size in records
        ]
    }


def test_created_objects_are_read_with_their_keys_decoded() -> None:
    body = s3_event(
        ("ObjectCreated:Put", "inbox/order/ORD-1/pod/scan+1%2B2.pdf", 12),
        ("ObjectRemoved:Delete", "inbox/order/ORD-1/pod/old.pdf", 0),
        ("ObjectCreated:CompleteMultipartUpload", "inbox%2Ftrip%2FT-1%2Fpod%2Fx.pdf", 7),
    )
    assert parse_s3_event(json.dumps(body)) == (
        (
            ObjectCreated("carrier-docs", "inbox/order/ORD-1/pod/scan 1+2.pdf", 12),
            ObjectCreated("carrier-docs", "inbox/trip/T-1/pod/x.pdf", 7),
        ),
        None,
    )


def test_an_sns_envelope_is_opened_and_the_test_event_announces_nothing() -> None:
    inner = json.dumps(s3_event(("ObjectCreated:Copy", "inbox/order/A/cmr/c.pdf", 3)))
    envelope = {"Type": "Notification", "TopicArn": "arn:aws:sns:eu-west-1:1:t", "Message": inner}
    assert parse_s3_event(json.dumps(envelope)) == (
        (ObjectCreated("carrier-docs", "inbox/order/A/cmr/c.pdf", 3),),
        None,
    )
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "carrier-docs"}
    assert parse_s3_event(json.dumps(test_event)) == ((), None)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("hello", "not JSON"),
        ('{"Type": "Notification"}', "not JSON"),
        ('{"detail-type": "Object Created"}', "no `Records`"),
        ('{"Records": [{"eventName": "ObjectCreated:Put"}]}', "lacks 's3'"),
        (
            '{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, '
            '"object": {"key": "k", "size": "x"}}}]}',
            "not of S3's shape (eventName, s3.bucket.name, s3.object.key, a whole number",
        ),
        ('{"Records": [{"eventName": "ObjectCreated:Put", "s3": []}]}', "not of S3's shape"),
    ],
)
def test_a_message_that_is_not_an_s3_event_is_a_problem(body: str, says: str) -> None:
    events, problem = parse_s3_event(body)
    assert events == () and problem is not None
    assert says in problem and "send only S3 event notifications" in problem
    assert "invalid literal" not in problem and "indices" not in problem  # Python's words


def test_inbox_keys_name_an_order_a_trip_or_a_trip_stop() -> None:
    order = parse_inbox_key("inbox/order/ORD-1001/pod/scan-123.pdf", inbox="inbox/")
    assert (order.ref, order.stop, order.doc_type, order.filename) == (
        EntityRef(Category.ORDER, "ORD-1001"), None, DocumentType.POD, "scan-123.pdf",
    )  # fmt: skip
    stop = parse_inbox_key("inbox/TRIP/TRP-7/stop-2/CMR/x.pdf", inbox="inbox/")
    assert (stop.ref, stop.stop, stop.doc_type) == (
        EntityRef(Category.TRIP, "TRP-7"), 2, DocumentType.CMR,
    )  # fmt: skip
    assert parse_inbox_key("inbox/trip/TRP-7/other/x.pdf", inbox="inbox/").stop is None


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("inbox/order/ORD-1/x.pdf", "does not follow the inbox convention"),
        ("inbox/order/ORD-1/pod/2026/x.pdf", "does not follow the inbox convention"),
        ("inbox/order/ORD-1/pod/", "does not follow the inbox convention"),
        ("inbox/trip/TRP-7/stop-0/pod/x.pdf", "does not follow the inbox convention"),
        ("inbox/booking/BK-1/pod/x.pdf", "not to 'booking'"),
        ("inbox/order/ORD-1/stop-2/pod/x.pdf", "stop-2 goes with a trip"),
        ("inbox/order/ORD-1/invoice/x.pdf", "'invoice' is not a document type"),
        ("inbox/order/ORD 1/pod/x.pdf", "invalid document key"),
    ],
)
def test_inbox_keys_off_the_convention_say_it(key: str, says: str) -> None:
    with pytest.raises(RefusedDropError) as refused:
        parse_inbox_key(key, inbox="inbox/", store_prefix="docs/")
    assert says in str(refused.value)
    if "convention" in says:
        assert "docs/inbox/trip/REFERENCE[/stop-N]/TYPE/FILE" in str(refused.value)
