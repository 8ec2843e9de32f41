"""Both document stores honour one contract: the folder and S3 over HTTP (moto's server)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from core.errors import NotConfiguredError
from core.settings import Settings
from storage.base import DocumentStore, ListedObject, StoreError
from storage.factory import open_document_store
from storage.folder import FolderStore
from storage.s3 import S3Store
from tests.servers import free_port


@pytest.fixture(params=["folder", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path, s3_endpoint: str) -> DocumentStore:
    """Each contract test runs on the folder store and on S3."""
    if request.param == "folder":
        return FolderStore(tmp_path / "documents")
    bucket = request.getfixturevalue("s3_env")
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="eu-west-1")
    return S3Store(client, bucket, prefix="carrier-a")


PDF = b"%PDF-1.7\n" + bytes(range(256)) * 64


def test_put_then_get_returns_the_same_bytes(store: DocumentStore) -> None:
    store.put("orders/ORD-1/pod.pdf", PDF, content_type="application/pdf")
    assert (
        hashlib.sha256(store.get("orders/ORD-1/pod.pdf")).digest() == hashlib.sha256(PDF).digest()
    )
    assert store.exists("orders/ORD-1/pod.pdf")
    assert not store.exists("orders/ORD-1/cmr.pdf")


def test_put_replaces(store: DocumentStore) -> None:
    store.put("a/b.pdf", b"first", content_type="application/pdf")
    store.put("a/b.pdf", b"second", content_type="application/pdf")
    assert store.get("a/b.pdf") == b"second"


def test_missing_object_is_a_clear_error(store: DocumentStore) -> None:
    with pytest.raises(StoreError, match="no object 'nope.pdf'"):
        store.get("nope.pdf")


def test_listing_is_sorted_prefixed_and_paged(store: DocumentStore) -> None:
    # 1,005 keys: S3 answers 1,000 per page, so the listing must follow the second page.
    for index in range(1005):
        store.put(f"in/{index:05d}.pdf", b"x" * (index % 7), content_type="application/pdf")
    store.put("other/z.pdf", b"zz", content_type="application/pdf")
    listed = list(store.list("in/"))
    assert len(listed) == 1005
    assert listed[0] == ListedObject("in/00000.pdf", 0)
    assert listed[-1] == ListedObject("in/01004.pdf", 1004 % 7)
    assert [item.key for item in store.list("other/")] == ["other/z.pdf"]


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs.pdf", "a//b.pdf", "a/../b.pdf", "a b.pdf"])
def test_unsafe_keys_are_refused(store: DocumentStore, key: str) -> None:
    with pytest.raises(StoreError, match="invalid document key"):
        store.put(key, b"x", content_type="application/pdf")


def test_s3_prefix_isolates_stores(s3_endpoint: str, s3_env: str) -> None:
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="eu-west-1")
    first, second = S3Store(client, s3_env, "a"), S3Store(client, s3_env, "b")
    first.put("doc.pdf", b"1", content_type="application/pdf")
    assert not second.exists("doc.pdf")
    assert [item.key for item in first.list()] == ["doc.pdf"]


def test_settings_choose_the_store(tmp_path: Path, s3_endpoint: str, s3_env: str) -> None:
    folder = open_document_store(Settings(var_dir=tmp_path))
    assert isinstance(folder, FolderStore) and folder.root == tmp_path / "documents"
    s3 = open_document_store(
        Settings(document_store="s3", s3_bucket=s3_env, s3_endpoint_url=s3_endpoint)
    )
    s3.put("x.pdf", b"x", content_type="application/pdf")
    assert s3.location == f"s3://{s3_env}/" and s3.get("x.pdf") == b"x"


def test_s3_without_bucket_says_what_to_set() -> None:
    with pytest.raises(NotConfiguredError, match="HAULFLOW_S3_BUCKET"):
        open_document_store(Settings(document_store="s3"))


def test_an_unreachable_s3_endpoint_is_a_store_error(s3_env: str) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        region_name="eu-west-1",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    store = S3Store(client, s3_env)
    for operation in (
        lambda: store.exists("a.pdf"),
        lambda: store.get("a.pdf"),
        lambda: list(store.list()),
        lambda: store.put("a.pdf", b"%PDF-", content_type="application/pdf"),
    ):
        with pytest.raises(StoreError, match="127.0.0.1"):
            operation()
