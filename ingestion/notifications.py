"""Where `haulflow listen` hears that an object was written: a pluggable notification source.

A source hands over messages, each with the objects it announces and an opaque receipt, and
forgets a message only once it is acknowledged, so a message that could not be handled is
delivered again. `SqsSource` reads AWS S3 event notifications from an SQS queue, sent there
directly or through an SNS topic. Stores that push instead (MinIO's webhook target) post the
same event format to the HTTP API (`POST /notifications/s3`), which hands it to the same
`handle_notifications` as one message and answers 503 when it must come back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote_plus

from botocore.exceptions import BotoCoreError, ClientError

from core.errors import HaulflowError, NotConfiguredError

# SQS answers at most 10 messages per call, and waits at most 20 s for the first one.
_MAX_MESSAGES = 10
_MAX_WAIT_SECONDS = 20
_POINT_ONLY = "send only S3 event notifications (s3:ObjectCreated:*) to this queue"


class NotificationSourceError(HaulflowError):
    """The notification source cannot be reached or refused a call; the message says which."""


@dataclass(frozen=True)
class ObjectCreated:
    """An object written to a bucket: its full key (decoded) and size in bytes."""

    bucket: str
    key: str
    size: int


@dataclass(frozen=True)
class Received:
    """One message: the objects it announces, or why it announces none it could read."""

    receipt: str
    events: tuple[ObjectCreated, ...] = ()
    # Set when the message is not an S3 event notification at all: acknowledged and warned.
    problem: str | None = None


class NotificationSource(Protocol):
    """Messages announcing new objects, each kept until acknowledged."""

    def receive(self, wait_seconds: float) -> list[Received]:
        """The next messages, waiting up to `wait_seconds` for the first; maybe none."""
        ...

    def acknowledge(self, received: Received) -> None:
        """Forget a handled message for good; an unacknowledged one comes back later."""
        ...


def parse_s3_event(body: str) -> tuple[tuple[ObjectCreated, ...], str | None]:
    """The created objects of an S3 event message (SNS-wrapped or not), or what is wrong.

    S3's test message and events other than ObjectCreated (e.g. removals) announce nothing.
    """
    try:
        document = json.loads(body)
        if isinstance(document, dict) and document.get("Type") == "Notification":
            document = json.loads(document["Message"])
    except (ValueError, KeyError, TypeError) as error:
        return (), f"the message is not JSON ({error}); {_POINT_ONLY}"
    if not isinstance(document, dict):
        return (), f"the message is not an S3 event notification; {_POINT_ONLY}"
    if document.get("Event") == "s3:TestEvent":
        return (), None
    records = document.get("Records")
    if not isinstance(records, list):
        return (), f"the message has no `Records`, so it is not an S3 event; {_POINT_ONLY}"
    created: list[ObjectCreated] = []
    for record in records:
        try:
            # AWS names events `ObjectCreated:Put`, MinIO `s3:ObjectCreated:Put`.
            if not str(record["eventName"]).removeprefix("s3:").startswith("ObjectCreated:"):
                continue
            s3 = record["s3"]
            created.append(
                ObjectCreated(
                    bucket=str(s3["bucket"]["name"]),
                    # S3 URL-encodes keys in events, a space as '+'.
                    key=unquote_plus(str(s3["object"]["key"])),
                    size=int(s3["object"].get("size", 0)),
                )
            )
        except KeyError as error:
            return (), f"an S3 event record lacks {error}; {_POINT_ONLY}"
        except (TypeError, ValueError):
            return (), (
                "an S3 event record is not of S3's shape (eventName, s3.bucket.name, "
                f"s3.object.key, a whole number for s3.object.size); {_POINT_ONLY}"
            )
    return tuple(created), None


class SqsSource:
    """S3 event notifications from an SQS queue, by long polling; the client is passed in."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self.client = client
        self.queue_url = queue_url

    def check(self) -> None:
        """Raise `NotConfiguredError` naming the queue when it cannot be read."""
        try:
            self.client.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        except (BotoCoreError, ClientError) as error:
            raise NotConfiguredError(
                f"cannot use the SQS queue {self.queue_url} (HAULFLOW_SQS_QUEUE_URL): {error}; "
                "check the URL, the region (HAULFLOW_S3_REGION) and the credentials"
            ) from None

    def receive(self, wait_seconds: float) -> list[Received]:
        wait = max(0, min(_MAX_WAIT_SECONDS, round(wait_seconds)))
        try:
            response = self.client.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=_MAX_MESSAGES, WaitTimeSeconds=wait
            )
        except (BotoCoreError, ClientError) as error:
            raise NotificationSourceError(
                f"cannot receive from {self.queue_url}: {error}"
            ) from None
        received = []
        for message in response.get("Messages", []):
            events, problem = parse_s3_event(message.get("Body", ""))
            if problem is not None:
                problem = f"SQS message {message.get('MessageId', '?')}: {problem}"
            received.append(Received(message["ReceiptHandle"], events, problem))
        return received

    def acknowledge(self, received: Received) -> None:
        try:
            self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=received.receipt)
        except (BotoCoreError, ClientError) as error:
            raise NotificationSourceError(
                f"cannot delete a handled message from {self.queue_url}: {error}"
            ) from None
