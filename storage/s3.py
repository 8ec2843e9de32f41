"""A document store in an S3 bucket (AWS or any S3-compatible endpoint) through boto3."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from storage.base import ListedObject, StoreError, check_key


class S3Store:
    """Objects under `prefix` in `bucket`; the boto3 client is passed in, never built here."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type
            )
        except (BotoCoreError, ClientError) as error:
            raise StoreError(f"cannot store {key!r} in {self.location}: {error}") from None

    def presigned_put(self, key: str, *, size: int, expires_seconds: int) -> str:
        """A URL another system may PUT one object of exactly `size` bytes to, at `key`,
        until it expires (signed here, without a request to the store). The length is a
        signed header: the store refuses a body of any other length."""
        try:
            url: str = self.client.generate_presigned_url(
                "put_object",
                Params={"Bucket": self.bucket, "Key": self._key(key), "ContentLength": size},
                ExpiresIn=expires_seconds,
            )
        except (BotoCoreError, ClientError) as error:
            raise StoreError(f"cannot sign an upload to {self.location}: {error}") from None
        return url

    def get(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise StoreError(f"no object {key!r} in {self.location}") from None
            raise StoreError(f"cannot read {key!r} from {self.location}: {error}") from None
        except BotoCoreError as error:
            raise StoreError(f"cannot read {key!r} from {self.location}: {error}") from None
        body: bytes = response["Body"].read()
        return body

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                return False
            raise StoreError(f"cannot reach {self.location}: {error}") from None
        except BotoCoreError as error:
            raise StoreError(f"cannot reach {self.location}: {error}") from None
        return True

    def list(self, prefix: str = "") -> Iterator[ListedObject]:
        # One request per 1,000 keys: reconciliation cost grows with the bucket, not the tasks.
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for item in page.get("Contents", []):
                    yield ListedObject(
                        item["Key"][len(self.prefix) :], int(item["Size"]), item.get("LastModified")
                    )
        except (BotoCoreError, ClientError) as error:
            raise StoreError(f"cannot list {self.location}: {error}") from None
