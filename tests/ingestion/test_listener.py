"""Documents other systems drop into the bucket are recorded once, as S3 announces them.

Everything runs against moto's server over HTTP: the bucket notifies a real SQS queue (moto
delivers S3 event notifications to SQS and SNS natively in server mode, test event
included), and the listener reads the queue with long polling.
"""

from __future__ import annotations

import json
import logging
import time
import uuid

import boto3
import pytest
from botocore.config import Config
from sqlmodel import Session, select

from models import Document, InboxDrop, Task, TaskStatus
from storage.s3 import S3Store
from tests.factories import make_order, make_trip
from tests.inbox import PREFIX, REGION, VISIBILITY, Inbox, make_queue
from tests.mailroom import Mailroom, pdf
from tests.servers import SmtpSink, free_port


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The listener's own warnings (moto's server logs every request too)."""
    return [r.getMessage() for r in caplog.records if r.name == "haulflow.listen"]


def documents(session: Session) -> list[Document]:
    session.expire_all()
    return list(session.exec(select(Document)).all())


def test_configuring_the_notification_sends_a_test_event_that_records_nothing(
    inbox: Inbox, session: Session
) -> None:
    report = inbox.handle()
    assert len(report.acknowledged) == 1
    assert not report.recorded and not report.refused and not report.ignored
    assert inbox.waiting() == 0


def test_a_drop_is_recorded_once_even_when_its_message_comes_twice(
    inbox: Inbox, session: Session
) -> None:
    order = make_order(session)
    session.commit()
    data = pdf("pod")
    key = inbox.drop(f"inbox/order/{order.reference}/pod/scan-123.pdf", data)

    first = inbox.handle(acknowledge=False)  # as if the acknowledgement were lost
    [recorded] = first.recorded
    assert recorded.key == key and recorded.order_reference == order.reference
    [document] = documents(session)
    assert document.source == f"s3:{key}" and document.filename == "scan-123.pdf"
    assert document.type == "pod" and document.order_id == order.id
    assert inbox.store.get(document.storage_key) == data
    assert inbox.objects("inbox/") == [key]  # another system's object stays where it was

    time.sleep(VISIBILITY + 0.2)
    again = inbox.handle()
    assert again.already_recorded == [key] and not again.recorded
    # The copy under documents/ was announced too, and ignored without a word.
    assert again.ignored == 1
    assert len(documents(session)) == 1
    assert inbox.waiting() == 0


def test_a_drop_for_a_trip_stop_is_recorded_against_that_stop_whatever_its_length(
    inbox: Inbox, session: Session
) -> None:
    first, second = make_order(session), make_order(session)
    trip = make_trip(session, [first, second])
    session.commit()
    long_name = "scan-" + "0" * 120 + ".pdf"  # the key outgrows `documents.source`
    key = inbox.drop(f"inbox/trip/{trip.reference}/stop-2/cmr/{long_name}", pdf("cmr"))
    [recorded] = inbox.handle().recorded
    [document] = documents(session)
    assert recorded.order_reference == second.reference and document.order_id == second.id
    assert document.trip_stop_id is not None and document.type == "cmr"
    assert document.filename == long_name and len(document.source) == 100
    assert f"s3:{key}".startswith(document.source.removesuffix("…"))


# Key (under the store's prefix), content, and what the warning must say.
NEVER_RECORDED = [
    ("inbox/order/{order}/scan.pdf", pdf("a"), "does not follow the inbox convention"),
    ("inbox/invoice/INV-1/pod/x.pdf", pdf("b"), "not to 'invoice'"),
    ("inbox/order/{order}/invoice/x.pdf", pdf("c"), "'invoice' is not a document type"),
    ("inbox/order/{order}/pod/scan 1.pdf", pdf("d"), "invalid document key"),
    ("inbox/order/{order}/pod/x.txt", b"plain text", "neither a PDF nor an image"),
    ("elsewhere/x.pdf", pdf("f"), "not in the inbox; write documents as haulflow/inbox/"),
    ("inbox/trip/{trip}/pod/x.pdf", pdf("g"), "carries 2 orders"),
]


def test_drops_that_can_never_be_recorded_are_acknowledged_with_a_warning_each(
    inbox: Inbox, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    order = make_order(session)
    trip = make_trip(session, [order, make_order(session)])
    session.commit()
    inbox.handle()  # the configuration's test event
    says = {
        inbox.drop(key.format(order=order.reference, trip=trip.reference), data): message
        for key, data, message in NEVER_RECORDED
    }
    with caplog.at_level(logging.WARNING, logger="haulflow.listen"):
        report = inbox.handle()
    assert sorted(report.refused) == sorted(says) and not report.recorded
    assert len(report.acknowledged) == len(says)
    for warning in warnings(caplog):
        [key] = [key for key in says if f"skipped s3://{inbox.bucket}/{key}: " in warning]
        assert says.pop(key) in warning
    assert says == {}
    ambiguous = report.refused[f"{PREFIX}/inbox/trip/{trip.reference}/pod/x.pdf"]
    assert "(in the inbox: write documents as haulflow/inbox/order/REFERENCE" in ambiguous
    assert documents(session) == [] and inbox.objects("documents/") == []
    assert inbox.waiting() == 0
    # Each is remembered with its reason, for `haulflow documents drops` and `status`.
    rows = session.exec(select(InboxDrop)).all()
    assert sorted(row.key for row in rows) == sorted(report.refused)
    assert all(row.status == "refused" and row.reason == report.refused[row.key] for row in rows)


def test_haulflow_own_writes_are_ignored_silently(
    inbox: Inbox, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    inbox.handle()
    inbox.drop(f"documents/{uuid.uuid4()}/pod-0123456789abcdef.pdf", pdf("own"))
    inbox.drop(f"emails/{uuid.uuid4()}/0123.eml", b"From: x")
    inbox.drop("inbox/order/", b"")  # a "folder" made in a console
    with caplog.at_level(logging.WARNING, logger="haulflow.listen"):
        report = inbox.handle()
    assert report.ignored == 3 and len(report.acknowledged) == 3
    assert warnings(caplog) == [] and documents(session) == []
    assert inbox.waiting() == 0


def test_a_message_sent_through_sns_is_unwrapped(
    inbox: Inbox, session: Session, s3_endpoint: str
) -> None:
    sns = boto3.client("sns", endpoint_url=s3_endpoint, region_name=REGION)
    topic = sns.create_topic(Name=f"haulflow-{uuid.uuid4().hex[:12]}")["TopicArn"]
    queue_url, queue_arn = make_queue(inbox.sqs)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    inbox.s3.put_bucket_notification_configuration(
        Bucket=inbox.bucket,
        NotificationConfiguration={
            "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    inbox.queue_url = queue_url
    order = make_order(session)
    session.commit()
    key = inbox.drop(f"inbox/order/{order.reference}/pod/x.pdf", pdf("sns"))
    raw = inbox.sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1, MaxNumberOfMessages=10)
    bodies = [json.loads(message["Body"]) for message in raw["Messages"]]
    assert {body["Type"] for body in bodies} == {"Notification"}  # SNS's envelope, as on AWS
    for message in raw["Messages"]:  # peeked at: visible again at once
        inbox.sqs.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    report = inbox.handle()
    assert [drop.key for drop in report.recorded] == [key]
    assert len(report.acknowledged) == len(bodies)


def test_an_unreachable_store_leaves_the_message_for_redelivery(
    inbox: Inbox, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    order = make_order(session)
    session.commit()
    inbox.handle()
    key = inbox.drop(f"inbox/order/{order.reference}/pod/x.pdf", pdf("later"))
    unreachable = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        region_name=REGION,
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )
    with caplog.at_level(logging.WARNING, logger="haulflow.listen"):
        failed = inbox.handle(store=S3Store(unreachable, inbox.bucket, PREFIX))
    assert list(failed.retried) == [key] and failed.acknowledged == []
    [warning] = warnings(caplog)
    assert "it will come back" in warning and key in warning
    assert documents(session) == [] and inbox.waiting() == 1

    time.sleep(VISIBILITY + 0.2)
    assert [drop.key for drop in inbox.handle().recorded] == [key]


def test_a_pod_and_cmr_dropped_into_the_inbox_send_one_email(
    inbox: Inbox, session: Session, smtp_sink: SmtpSink
) -> None:
    mailroom = Mailroom(session, inbox.store, smtp_sink)
    mailroom.configure()
    order = mailroom.order()
    inbox.drop(f"inbox/order/{order.reference}/pod/pod.pdf", pdf("pod"))
    inbox.drop(f"inbox/order/{order.reference}/cmr/cmr.pdf", pdf("cmr"))
    report = inbox.handle()
    assert sorted(drop.doc_type for drop in report.recorded) == ["cmr", "pod"]
    assert sum(drop.opened for drop in report.recorded) == 1
    session.expire_all()
    task = session.exec(select(Task).where(Task.entity_id == order.id)).one()
    assert task.status == TaskStatus.READY.value
    mailroom.drain()
    [email] = smtp_sink.received
    attachments = [part.get_filename() for part in email.message.iter_attachments()]
    assert sorted(attachments) == [f"{order.reference}-{kind}.pdf" for kind in ("cmr", "pod")]
