"""Configuration versions and the task definitions each version holds.

Every `config apply` adds a version; tasks point at the definition row they were
generated from, so a later version never changes an existing task.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow

# The defaults of a definition's spec, here once: the configuration schema declares them
# and `TaskSpec` falls back on them.
DEFAULT_TRIGGER: Final = "created"
DEFAULT_ON_UNCERTAIN_DELIVERY: Final = "resend"
DEFAULT_ON_CORRECTED_DOCUMENT: Final = "ignore"


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
    # documents, templates. Its shape belongs to models.configuration; read it through
    # `task_spec`.
    spec: dict[str, Any] = Field(sa_type=sa.JSON, nullable=False)

    @property
    def task_spec(self) -> TaskSpec:
        """The spec as a typed object, read once per definition (a stored definition never
        changes: a new configuration version adds new rows)."""
        found = _SPECS.get(self.id)
        if found is None:
            if len(_SPECS) >= _SPECS_KEPT:
                _SPECS.clear()
            found = _SPECS[self.id] = TaskSpec.read(self.spec)
        return found


@dataclass(frozen=True)
class ScheduleSpec:
    """When a task becomes due: `on` created, documents, status or date, then the offset."""

    on: str = DEFAULT_TRIGGER
    status: str | None = None
    date: str | None = None
    # An ISO 8601 duration as stored (`lifecycle.schedules.read_offset` reads it).
    offset: str = "0"


@dataclass(frozen=True)
class TaskSpec:
    """What a stored definition says beyond its columns. `conditions`, `intended_for` and
    `email` stay plain data: the condition matcher, the recipient resolver and the template
    renderer read those shapes."""

    schedule: ScheduleSpec
    conditions: dict[str, Any] | None
    intended_for: dict[str, Any]
    required_documents: tuple[str, ...]
    attachments: tuple[str, ...]
    email: dict[str, Any] | None
    on_uncertain_delivery: str
    on_corrected_document: str

    @classmethod
    def read(cls, spec: dict[str, Any]) -> TaskSpec:
        schedule = spec.get("schedule") or {}
        return cls(
            schedule=ScheduleSpec(
                on=str(schedule.get("on", DEFAULT_TRIGGER)),
                status=schedule.get("status"),
                date=schedule.get("date"),
                offset=str(schedule.get("offset", "0")),
            ),
            conditions=spec.get("conditions"),
            intended_for=dict(spec.get("intended_for") or {}),
            required_documents=tuple(spec.get("required_documents", ())),
            attachments=tuple(spec.get("attachments", ())),
            email=spec.get("email") or None,
            on_uncertain_delivery=str(
                spec.get("on_uncertain_delivery", DEFAULT_ON_UNCERTAIN_DELIVERY)
            ),
            on_corrected_document=str(
                spec.get("on_corrected_document", DEFAULT_ON_CORRECTED_DOCUMENT)
            ),
        )


# Definitions read, by id: a few hundred in a carrier's history.
_SPECS: dict[uuid.UUID, TaskSpec] = {}
_SPECS_KEPT = 10_000
