"""Customers and subcontractors, their contacts and the roles those contacts hold."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import REFERENCE_LENGTH, UTCDateTime, utcnow


class PartyKind(StrEnum):
    CUSTOMER = "customer"
    SUBCONTRACTOR = "subcontractor"


# Qargo's ten contact roles plus "Client"; custom roles are added by configuration.
KNOWN_ROLES: dict[str, str] = {
    "billing": "Billing",
    "claims-insurance": "Claims & insurance",
    "cmr-pod-processing": "CMR/POD processing",
    "customs": "Customs",
    "it": "IT",
    "operations": "Operations",
    "other": "Other",
    "payment-reminders": "Payment reminders",
    "quality": "Quality",
    "sales": "Sales",
    "customer": "Customer",
}


class Party(SQLModel, table=True):
    """A customer or subcontractor; its reference is the carrier's own, unique."""

    __tablename__ = "parties"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    reference: str = Field(max_length=REFERENCE_LENGTH, unique=True)
    kind: str = Field(max_length=16, index=True)
    name: str = Field(max_length=200)
    country: str = Field(max_length=2)
    language: str = Field(max_length=8)
    timezone: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Role(SQLModel, table=True):
    """A recipient role; known roles are seeded by migration, custom ones by configuration."""

    __tablename__ = "roles"

    key: str = Field(max_length=40, primary_key=True)
    name: str = Field(max_length=100)
    builtin: bool = False


class Contact(SQLModel, table=True):
    """A person at a party; only contacts holding a role can be targeted by a task."""

    __tablename__ = "contacts"
    __table_args__ = (sa.UniqueConstraint("party_id", "email"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    party_id: uuid.UUID = Field(foreign_key="parties.id", index=True, ondelete="CASCADE")
    email: str = Field(max_length=254)
    name: str | None = Field(default=None, max_length=200)
    # Empty means the party's language.
    language: str | None = Field(default=None, max_length=8)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ContactRole(SQLModel, table=True):
    """A role held by a contact."""

    __tablename__ = "contact_roles"

    contact_id: uuid.UUID = Field(foreign_key="contacts.id", primary_key=True, ondelete="CASCADE")
    role_key: str = Field(foreign_key="roles.key", primary_key=True, max_length=40, index=True)
