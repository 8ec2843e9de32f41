"""Configuration versions and the task definitions each version holds.

Every `config apply` adds a version; tasks point at the definition row they were
generated from, so a later version never changes an existing task.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow


class Execution(StrEnum):
    MANUAL = "manual"
    AUTOMATIC = "automatic"
    SKIP = "skip"


class ConfigVersion(SQLModel, table=True):
    """One applied configuration file, kept whole for audit and `config show`."""

    __tablename__ = "config_versions"

    id: int = Field(primary_key=True)
    applied_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    applied_by: str = Field(max_length=64)
    source_name: str = Field(max_length=500)
    source_sha256: str = Field(max_length=64)
    document: dict[str, Any] = Field(sa_type=sa.JSON, nullable=False)


class TaskDefinition(SQLModel, table=True):
    """A task definition as it stood in one configuration version."""

    __tablename__ = "task_definitions"
    __table_args__ = (sa.UniqueConstraint("config_version_id", "key"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    config_version_id: int = Field(foreign_key="config_versions.id", index=True)
    key: str = Field(max_length=64, index=True)
    category: str = Field(max_length=16, index=True)
    position: int
    name: str = Field(max_length=200)
    execution: str = Field(max_length=16)
    auto_generate: bool
    responsible: str | None = Field(default=None, max_length=110)
    mailbox_key: str | None = Field(default=None, max_length=40)
    reply_to: str | None = Field(default=None, max_length=254)
    paused: bool = False
    # The validated definition as plain data: schedule, conditions, intended_for,
    # documents, templates. Its shape belongs to models.configuration.
    spec: dict[str, Any] = Field(sa_type=sa.JSON, nullable=False)
