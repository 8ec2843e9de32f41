"""The document store interface every implementation (folder, S3) provides."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from core.errors import HaulflowError

# Keys are relative, slash-separated and free of `..`, so no key can escape a folder store
# or collide with another prefix in a bucket.
_KEY = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")


class StoreError(HaulflowError):
    """The document store refused or failed an operation; the message says which and where."""


@dataclass(frozen=True)
class ListedObject:
    """One object seen by a listing: its key (without the store's prefix), size and age."""

    key: str
    size: int
    # When it was last written, where the store says (compared by reconciliation only).
    modified_at: datetime | None = field(default=None, compare=False)


class DocumentStore(Protocol):
    """Put, get and list bytes by key."""

    @property
    def location(self) -> str:
        """Where the store is, for messages (`s3://bucket/prefix`, `folder var/documents`)."""
        ...

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store `data` under `key`, replacing any object there, all or nothing."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes under `key`; `StoreError` when there is none."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored under `key`."""
        ...

    def list(self, prefix: str = "") -> Iterator[ListedObject]:
        """Every object whose key starts with `prefix`, in key order, paged by the store."""
        ...


def check_key(key: str) -> str:
    """Refuse keys that are absolute, contain `..`, or use characters outside a safe set."""
    if not _KEY.fullmatch(key) or any(part in {".", ".."} for part in key.split("/")):
        raise StoreError(
            f"invalid document key {key!r}: use letters, digits, '.', '_', '-' and '/' "
            "between non-empty parts, without '..'"
        )
    return key
