"""The task-configuration file as pydantic models: structure and types, no cross-references.

Cross-references (roles, mailboxes, fields of a category, templates) are checked by
`validation.validate_configuration`, which returns these models normalized: template files
inlined, offsets parsed, attachments defaulted to the required documents.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, model_validator

from core.text import excerpt, unsafe_reason
from models.configuration.catalog import CATEGORIES, DOCUMENT_TYPES
from models.configuration.scalars import (
    Address,
    LanguageCode,
    NamedAddress,
    Offset,
    SecretReference,
    Slug,
    Username,
)
from models.definitions import (
    DEFAULT_ON_CORRECTED_DOCUMENT,
    DEFAULT_ON_UNCERTAIN_DELIVERY,
    DEFAULT_TRIGGER,
)

Execution = Literal["manual", "automatic", "skip"]
Trigger = Literal["created", "documents", "status", "date"]
Operator = Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "contains", "exists"]
DocumentType = Literal["pod", "cmr", "other"]
SmtpSecurity = Literal["plain", "starttls", "ssl"]
UncertainDelivery = Literal["resend", "hold"]
CorrectedDocument = Literal["ignore", "notify", "resend"]


def _visible_line(value: str) -> str:
    """One line of visible characters: a name reaches e-mail headers and command output."""
    reason = unsafe_reason(value)
    if reason is not None:
        raise ValueError(f"{excerpt(value)} {reason}")
    return value


Text = Annotated[str, Field(min_length=1), AfterValidator(_visible_line)]

_RESPONSIBLE = re.compile(r"(user|team|role):(\S+)")


def _check_responsible(value: str) -> str:
    if not _RESPONSIBLE.fullmatch(value):
        raise ValueError(
            f"{excerpt(value)} is not a responsible: write 'user:USERNAME', 'team:KEY' or "
            "'role:KEY'"
        )
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Carrier(_Model):
    """The carrier running haulflow, as named in e-mails."""

    name: Text


class TripExtraFields(_Model):
    """Optional fields of trips (a TMS's "extra fields")."""

    contact_emails: bool = False


class ExtraFields(_Model):
    """Optional entity fields that some task options depend on."""

    trips: TripExtraFields = TripExtraFields()


class Role(_Model):
    """A custom contact role, next to the built-in ones."""

    key: Slug
    name: Text


class Team(_Model):
    """A team of the carrier's users that can be responsible for tasks."""

    key: Slug
    name: Text


class User(_Model):
    """A user of the carrier who can be responsible for tasks."""

    username: Username
    name: Text
    email: Address
    teams: tuple[str, ...] = ()


class Smtp(_Model):
    """How a mailbox reaches its SMTP relay; the password is only referenced."""

    host: Text
    port: int = Field(default=587, ge=1, le=65535)
    security: SmtpSecurity = "starttls"
    username: str | None = None
    password_secret: SecretReference | None = None
    # A login over a plain connection sends the password in clear: only on purpose.
    allow_plain_login: bool = False

    @model_validator(mode="after")
    def _no_clear_password(self) -> Smtp:
        if self.security == "plain" and self.username and not self.allow_plain_login:
            raise ValueError(
                "security: plain with a username would send the password unencrypted: use "
                "starttls or ssl, or set allow_plain_login: true for a relay on a trusted "
                "network"
            )
        return self


class Mailbox(_Model):
    """A sending account (a TMS's "linked mailbox")."""

    key: Slug
    from_: NamedAddress = Field(alias="from")
    smtp: Smtp
    bounce: Address | None = None
    max_message_bytes: int = Field(default=10_000_000, gt=0)
    paused: bool = False


class Schedule(_Model):
    """When a task becomes due: on creation, when its documents are in, on a status or date."""

    on: Trigger = DEFAULT_TRIGGER
    status: str | None = None
    date: str | None = None
    offset: Offset = dt.timedelta()


class Condition(_Model):
    """A creation condition: `{all: [...]}`, `{any: [...]}` or `{field, op, value}`."""

    all: tuple[Condition, ...] | None = None
    any: tuple[Condition, ...] | None = None
    field: str | None = None
    op: Operator | None = None
    value: JsonValue = None

    @model_validator(mode="after")
    def _one_shape(self) -> Condition:
        compound = [name for name in ("all", "any") if getattr(self, name) is not None]
        leaf = self.field is not None or self.op is not None or "value" in self.model_fields_set
        if len(compound) + leaf != 1:
            raise ValueError(
                "a condition is exactly one of {all: [...]}, {any: [...]} or "
                "{field: ..., op: ..., value: ...}"
            )
        if compound and not getattr(self, compound[0]):
            raise ValueError(f"'{compound[0]}' needs at least one condition")
        if leaf and (self.field is None or self.op is None):
            raise ValueError("a comparison needs both 'field' and 'op'")
        if leaf and self.op != "exists" and "value" not in self.model_fields_set:
            raise ValueError(f"operator '{self.op}' needs a 'value'")
        return self


class IntendedFor(_Model):
    """Who receives a task's e-mails (a TMS's "intended for")."""

    roles: tuple[str, ...] = ()
    trip_contacts: bool = False
    addresses: tuple[NamedAddress, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.roles or self.trip_contacts or self.addresses)


class EmailTemplate(_Model):
    """One language of a task's e-mail; `*_path` keeps the file a body was loaded from."""

    subject: Text
    text: str | None = None
    text_path: str | None = None
    html: str | None = None
    html_path: str | None = None

    @model_validator(mode="after")
    def _has_body(self) -> EmailTemplate:
        if not any((self.text, self.text_path, self.html, self.html_path)):
            raise ValueError("an e-mail needs a body: text, text_path, html or html_path")
        return self


class EmailSpec(_Model):
    """A task's e-mail in every language it is written in."""

    default_language: LanguageCode
    languages: dict[LanguageCode, EmailTemplate] = Field(min_length=1)


class TaskDefinition(_Model):
    """One configured task of a category (a TMS's "Tâche")."""

    key: Slug
    name: Text
    responsible: Annotated[str, AfterValidator(_check_responsible)] | None = None
    execution: Execution = "manual"
    auto_generate: bool = True
    schedule: Schedule = Schedule()
    conditions: Condition | None = None
    intended_for: IntendedFor = IntendedFor()
    required_documents: tuple[DocumentType, ...] = ()
    attachments: tuple[DocumentType, ...] = ()
    mailbox: str | None = None
    reply_to: NamedAddress | None = None
    on_uncertain_delivery: UncertainDelivery = DEFAULT_ON_UNCERTAIN_DELIVERY
    # A document recorded after the e-mail went out with an earlier one (`lifecycle.corrections`).
    on_corrected_document: CorrectedDocument = DEFAULT_ON_CORRECTED_DOCUMENT
    # A paused definition's tasks wait (nothing is sent, nothing lost) until it is resumed.
    paused: bool = False
    email: EmailSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_attachments(cls, data: Any) -> Any:
        # Attachments default to the required documents; copied only when those are valid so
        # a bad value is reported once, under required_documents.
        if isinstance(data, dict) and "attachments" not in data:
            required = data.get("required_documents")
            if isinstance(required, list) and all(item in DOCUMENT_TYPES for item in required):
                return {**data, "attachments": required}
        return data

    @property
    def responsible_ref(self) -> tuple[str, str] | None:
        """`("team", "customer-service")` for `team:customer-service`; None when unset."""
        if self.responsible is None:
            return None
        kind, _, key = self.responsible.partition(":")
        return kind, key


class Tasks(_Model):
    """Task definitions per category, in the order they are configured."""

    orders: tuple[TaskDefinition, ...] = ()
    bookings: tuple[TaskDefinition, ...] = ()
    trips: tuple[TaskDefinition, ...] = ()
    invoices: tuple[TaskDefinition, ...] = ()


@dataclass(frozen=True)
class DefinitionEntry:
    """A task definition with its category and its position within that category."""

    category: str
    position: int
    definition: TaskDefinition


class Configuration(_Model):
    """A whole task configuration, as validated from a file or read back from the database."""

    schema_version: Literal[1]
    carrier: Carrier
    extra_fields: ExtraFields = ExtraFields()
    fallback_role: str | None = None
    roles: tuple[Role, ...] = ()
    teams: tuple[Team, ...] = ()
    users: tuple[User, ...] = ()
    mailboxes: tuple[Mailbox, ...] = ()
    tasks: Tasks = Tasks()

    def to_document(self) -> dict[str, Any]:
        """The JSON-able form stored in the database; `Configuration.model_validate` reads it."""
        # Unset keys are left out so a condition keeps exactly one shape when read back.
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def definitions(self) -> list[DefinitionEntry]:
        """Every task definition, category by category, in configured order."""
        return [
            DefinitionEntry(spec.name, position, definition)
            for spec in CATEGORIES.values()
            for position, definition in enumerate(getattr(self.tasks, spec.section))
        ]

    def definition(self, key: str) -> DefinitionEntry | None:
        """The task definition with this key, or None."""
        return next((entry for entry in self.definitions() if entry.definition.key == key), None)

    def mailbox(self, key: str) -> Mailbox | None:
        """The mailbox with this key, or None."""
        return next((mailbox for mailbox in self.mailboxes if mailbox.key == key), None)
