"""Open the document store the settings name."""

from __future__ import annotations

from core.errors import NotConfiguredError
from core.settings import Settings
from storage.base import DocumentStore
from storage.folder import FolderStore


def open_document_store(settings: Settings) -> DocumentStore:
    """The folder store by default, the S3 store when `HAULFLOW_DOCUMENT_STORE=s3`."""
    if settings.document_store == "folder":
        return FolderStore(settings.resolved_documents_dir)
    if not settings.s3_bucket:
        raise NotConfiguredError(
            "HAULFLOW_DOCUMENT_STORE=s3 needs HAULFLOW_S3_BUCKET (and HAULFLOW_S3_ENDPOINT_URL "
            "for a store other than AWS)"
        )
    # Imported here: a folder store (the default) never pays for boto3.
    import boto3
    from botocore.config import Config

    from storage.s3 import S3Store

    # Signature version 4 everywhere: botocore would sign upload URLs with version 2, which
    # AWS refuses in newer regions and which cannot sign a body's length.
    client = boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        config=Config(signature_version="s3v4"),
    )
    return S3Store(client, settings.s3_bucket, settings.s3_prefix)
