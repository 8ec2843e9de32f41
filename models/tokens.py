"""API tokens: who may call haulflow's HTTP API, for what, until revoked.

Only a token's SHA-256 is stored: the secret is shown once, when it is created. A token is
256 random bits, so a plain hash cannot be reversed by guessing (a slow password hash buys
nothing here and would cost every request milliseconds). Revoked tokens keep their row: the
writes they made name them in the histories.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow


class Scope(StrEnum):
    # Entity pages, worklists, explanations, archived e-mails.
    READ = "read"
    # Upsert entities, upload documents, finish tasks.
    WRITE = "write"
    # Start hand runs and resends: e-mails leave.
    SEND = "send"


class ApiToken(SQLModel, table=True):
    """One API token: its name (recorded with every write it makes), scopes and state."""

    __tablename__ = "api_tokens"
    __table_args__ = (sa.UniqueConstraint("name"), sa.UniqueConstraint("secret_sha256"))

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=60)
    # The secret's first characters, shown by `tokens list` to tell tokens apart.
    hint: str = Field(max_length=12)
    secret_sha256: str = Field(max_length=64)
    # Comma-separated `Scope` values.
    scopes: str = Field(max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def scope_set(self) -> frozenset[Scope]:
        return frozenset(Scope(part) for part in self.scopes.split(",") if part)
