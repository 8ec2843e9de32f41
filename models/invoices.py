"""Invoices: revenue (billing an order), purchase (from a subcontractor), credit notes."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field

from models.base import EntityColumns, UTCDateTime


class InvoiceKind(StrEnum):
    REVENUE = "revenue"
    PURCHASE = "purchase"
    CREDIT_NOTE = "credit_note"


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    PAID = "paid"
    CANCELLED = "cancelled"


class Invoice(EntityColumns, table=True):
    """An invoice to or from a party; a purchase invoice carries the supplier's number."""

    __tablename__ = "invoices"
    __table_args__ = (sa.UniqueConstraint("party_id", "external_reference"),)

    kind: str = Field(max_length=16, index=True)
    party_id: uuid.UUID = Field(foreign_key="parties.id", index=True)
    external_reference: str | None = Field(default=None, max_length=64)
    order_id: uuid.UUID | None = Field(default=None, foreign_key="orders.id", index=True)
    credited_invoice_id: uuid.UUID | None = Field(default=None, foreign_key="invoices.id")
    status: str = Field(default=InvoiceStatus.DRAFT, max_length=16, index=True)
    issued_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    amount: Decimal = Field(max_digits=14, decimal_places=2)
    currency: str = Field(max_length=3)
