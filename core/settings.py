"""The one settings class: environment variables `HAULFLOW_*` over embedded defaults."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import NotConfiguredError

MIN_SWEEP_INTERVAL_SECONDS = 30


class Settings(BaseSettings):
    """Where haulflow keeps its state; every default lives under `var_dir`."""

    model_config = SettingsConfigDict(env_prefix="HAULFLOW_", extra="ignore")

    var_dir: Path = Path("var")
    # Empty means the embedded SQLite file `var_dir/haulflow.db`.
    database_url: SecretStr | None = None
    # "folder" keeps documents under `documents_dir`; "s3" in `s3_bucket` (AWS credentials
    # come from boto3's usual sources: environment, profile, instance role).
    document_store: Literal["folder", "s3"] = "folder"
    documents_dir: Path | None = None
    s3_bucket: str | None = None
    s3_prefix: str = ""
    # For S3-compatible stores (MinIO, Ceph, Scaleway...); empty means AWS.
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    # `haulflow listen`: the SQS queue receiving the bucket's ObjectCreated notifications (in
    # the bucket's region; the endpoint only for an SQS-compatible server), and the folder,
    # under `s3_prefix`, where other systems drop documents (`ingestion.listener`).
    sqs_queue_url: str | None = None
    sqs_endpoint_url: str | None = None
    inbox_prefix: str = "inbox/"
    # A drop naming an entity not imported yet waits this long for it, then is refused.
    inbox_pending_hours: float = Field(default=72.0, gt=0)
    mailsink_dir: Path | None = None
    # The carrier's own timezone: for local times on entities without a party (own trips).
    timezone: str = "Europe/Paris"
    max_document_bytes: int = Field(default=20_000_000, gt=0)
    # An import or configuration file: ~290,000 orders; read in chunks, a 50 MB import peaks
    # under 500 MB (docs/architecture.md, "Input from outside").
    max_import_bytes: int = Field(default=60_000_000, gt=0)
    # Sending: a temporary SMTP failure is retried after base * 2^(attempt-1) seconds, capped,
    # until max attempts; a task claimed longer than sending_timeout is presumed crashed.
    send_max_attempts: int = Field(default=8, ge=1)
    send_retry_base_seconds: float = Field(default=60.0, ge=0)
    send_retry_max_seconds: float = Field(default=3600.0, ge=0)
    sending_timeout_seconds: float = Field(default=900.0, gt=0)
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    # "host:port": every mailbox sends through this relay instead (plain, no login): the
    # local sink of `haulflow up`, or a staging relay. Empty means each mailbox's own server.
    smtp_relay: str | None = Field(default=None, pattern=r"^[^:\s]+:\d{1,5}$")
    # How often the served `sweep` runs (the backstop that finds what no event announced).
    # A sweep takes seconds (a flow-run start, its steps, a dispatch): a shorter interval
    # only piles runs up behind each other (docs/architecture.md, "The sweep").
    sweep_interval_seconds: int = Field(default=60, ge=MIN_SWEEP_INTERVAL_SECONDS)
    # Dispatchers: long-lived runs that send ready e-mail tasks as their commit wakes them
    # (`flows/dispatcher.py`). How many run at once (0: none, the sweep alone sends), and
    # how long each runs before a successor takes over (its final state and artifacts then
    # cover that stretch of time).
    dispatchers: int = Field(default=1, ge=0, le=32)
    dispatcher_lifetime_seconds: float = Field(default=900.0, ge=10)
    # The local SMTP sink of `haulflow up` / `demo` (writes each message under mailsink_dir).
    smtp_sink_port: int = Field(default=2525, ge=1, le=65535)
    # The local Prefect server of `haulflow up` (API and UI) on 127.0.0.1; its home is
    # var_dir/prefect.
    prefect_port: int = Field(default=4200, ge=1, le=65535)
    # haulflow's HTTP API (`haulflow api`, and `haulflow up` beside the Prefect UI).
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8300, ge=1, le=65535)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        """SQLite or PostgreSQL through psycopg; `postgres://` (as many hosts write it) too."""
        if value is None or not value.get_secret_value().strip():
            return None
        url = value.get_secret_value().strip()
        scheme = url.partition("://")[0] if "://" in url else ""
        if scheme == "postgres":
            url = "postgresql://" + url.partition("://")[2]
        elif scheme.startswith("postgresql+") and scheme != "postgresql+psycopg":
            raise ValueError(
                f"haulflow reaches PostgreSQL through psycopg, not {scheme.partition('+')[2]}: "
                "write postgresql://USER@HOST:PORT/DATABASE (a +asyncpg URL is the Prefect "
                "server's own database setting)"
            )
        elif scheme not in ("postgresql", "postgresql+psycopg", "sqlite"):
            raise ValueError(
                "give sqlite:///PATH (a file) or postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
            )
        return SecretStr(url)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        """An IANA zone this machine knows, checked once here rather than at its first use."""
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not an IANA time zone; write one such as Europe/Paris") from None
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url is not None and self.database_url.get_secret_value():
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.var_dir / 'haulflow.db').as_posix()}"

    @property
    def resolved_documents_dir(self) -> Path:
        return self.documents_dir or self.var_dir / "documents"

    @property
    def resolved_mailsink_dir(self) -> Path:
        return self.mailsink_dir or self.var_dir / "mailsink"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests call `get_settings.cache_clear()` after changing env.

    A value that does not fit is a `NotConfiguredError` naming the variable, not a traceback.
    """
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(_problem(problem) for problem in error.errors())
        raise NotConfiguredError(f"{problems}; fix the variable or unset it") from None


def _problem(problem: Any) -> str:
    """`HAULFLOW_NAME='value': what is wrong`; a URL's value is not shown (its password)."""
    name = f"HAULFLOW_{'_'.join(map(str, problem['loc'])).upper()}"
    message = problem["msg"].removeprefix("Value error, ")
    if problem["loc"] == ("database_url",):
        return f"{name}: {message}"
    return f"{name}={str(problem.get('input', ''))[:80]!r}: {message}"
