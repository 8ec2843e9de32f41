"""The inbox: where other systems drop documents into the bucket, and its key convention.

Keys, under the store's prefix (`HAULFLOW_S3_PREFIX`) and the inbox folder
(`HAULFLOW_INBOX_PREFIX`, `inbox/` by default):

    inbox/{category}/{reference}/{type}/{filename}
    inbox/order/ORD-1001/pod/scan-123.pdf
    inbox/trip/TRP-7/stop-2/pod/x.pdf      (a trip's delivery stop)
    inbox/trip/TRP-7/cmr/x.pdf             (a trip carrying one order)

TYPE is pod, cmr or other; every part uses letters, digits, '.', '_' and '-' (the store's
key rule). haulflow's own writes (`documents/`, `emails/`) are not drops.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from core.errors import HaulflowError
from core.settings import Settings
from ingestion.notifications import ObjectCreated
from lifecycle.entities import EntityRef
from models import Category, DocumentType
from storage.base import StoreError, check_key

# What haulflow itself writes into the store: a bucket-wide notification announces it too.
OWN_PREFIXES = ("documents/", "emails/")

_STOP = re.compile(r"stop-([1-9][0-9]*)")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class RefusedDropError(HaulflowError):
    """A written object that can never be recorded as it is (key, bucket, or gone)."""


@dataclass(frozen=True)
class DropAddress:
    """What an inbox key names: the entity, trip stop, document type and file name."""

    store_key: str
    ref: EntityRef
    stop: int | None
    doc_type: DocumentType
    filename: str


def _folder(prefix: str) -> str:
    return prefix.strip("/") + "/" if prefix.strip("/") else ""


def inbox_location(settings: Settings) -> str:
    """The key prefix, in the bucket, under which other systems drop documents."""
    return _folder(settings.s3_prefix) + _folder(settings.inbox_prefix)


def convention(inbox: str) -> str:
    """The inbox key convention, for messages."""
    return (
        f"write documents as {inbox}order/REFERENCE/TYPE/FILE or "
        f"{inbox}trip/REFERENCE[/stop-N]/TYPE/FILE, TYPE being pod, cmr or other"
    )


def inbox_key(
    *, ref: EntityRef, doc_type: DocumentType, filename: str, stop: int | None, settings: Settings
) -> str:
    """A fresh key under the inbox (relative to the store's prefix) for one upload of `ref`:
    the file name made key-safe behind a random part, so two uploads never collide."""
    safe = _UNSAFE.sub("-", filename.strip()).strip(".-")[:100] or "scan"
    parts = [ref.category.value, ref.reference, *([f"stop-{stop}"] if stop else [])]
    key = f"{_folder(settings.inbox_prefix)}{'/'.join(parts)}/{doc_type.value}/"
    key += f"{uuid.uuid4().hex[:12]}-{safe}"
    try:
        return check_key(key)
    except StoreError:
        raise RefusedDropError(
            f"the reference {ref.reference!r} cannot be part of a bucket key (letters, digits, "
            "'.', '_' and '-' only): upload the file to haulflow directly instead"
        ) from None


def parse_inbox_key(key: str, *, inbox: str, store_prefix: str = "") -> DropAddress:
    """The drop a store key under `inbox` names; `RefusedDropError` saying the convention.

    `store_prefix` only completes the convention quoted in messages.
    """
    hint = convention(store_prefix + inbox)
    parts = key[len(inbox) :].split("/")
    stop: int | None = None
    if len(parts) == 5 and (match := _STOP.fullmatch(parts[2])):
        stop = int(match.group(1))
        del parts[2]
    if len(parts) != 4 or not all(parts):
        raise RefusedDropError(f"the key does not follow the inbox convention: {hint}")
    category, reference, type_name, filename = parts
    if category.lower() not in {Category.ORDER.value, Category.TRIP.value}:
        raise RefusedDropError(
            f"documents belong to orders or trip stops, not to '{category}': {hint}"
        )
    if stop is not None and category.lower() != Category.TRIP.value:
        raise RefusedDropError(f"stop-{stop} goes with a trip: {hint}")
    try:
        doc_type = DocumentType(type_name.lower())
    except ValueError:
        raise RefusedDropError(f"'{type_name}' is not a document type: {hint}") from None
    try:
        check_key(key)
    except StoreError as error:
        raise RefusedDropError(f"{error}; rename the object") from None
    ref = EntityRef(Category(category.lower()), reference)
    return DropAddress(key, ref, stop, doc_type, filename)


def locate_drop(event: ObjectCreated, settings: Settings) -> DropAddress | None:
    """The inbox drop an event announces; None for haulflow's own writes and folder markers."""
    if settings.s3_bucket and event.bucket != settings.s3_bucket:
        raise RefusedDropError(
            f"haulflow's bucket is {settings.s3_bucket}: send only its notifications here"
        )
    prefix, inbox = _folder(settings.s3_prefix), _folder(settings.inbox_prefix)
    if not event.key.startswith(prefix):
        raise RefusedDropError(
            f"the key is outside haulflow's prefix '{prefix}': limit the bucket notification "
            f"to the prefix '{prefix}{inbox}'"
        )
    key = event.key[len(prefix) :]
    if key.endswith("/") or key.startswith(OWN_PREFIXES):
        return None
    if not key.startswith(inbox):
        raise RefusedDropError(f"the key is not in the inbox; {convention(prefix + inbox)}")
    return parse_inbox_key(key, inbox=inbox, store_prefix=prefix)
