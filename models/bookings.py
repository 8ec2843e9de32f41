"""Bookings: capacity reserved for orders (a slot, a subcontracted haul)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import EntityColumns, UTCDateTime


class BookingStatus(StrEnum):
    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Booking(EntityColumns, table=True):
    """A booking, optionally with a subcontractor whose own reference is unique to it."""

    __tablename__ = "bookings"
    __table_args__ = (sa.UniqueConstraint("subcontractor_id", "external_reference"),)

    subcontractor_id: uuid.UUID | None = Field(default=None, foreign_key="parties.id", index=True)
    external_reference: str | None = Field(default=None, max_length=64)
    status: str = Field(default=BookingStatus.REQUESTED, max_length=16, index=True)
    slot_start_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    slot_end_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    amount: Decimal | None = Field(default=None, max_digits=14, decimal_places=2)
    currency: str | None = Field(default=None, max_length=3)


class BookingOrder(SQLModel, table=True):
    """An order served by a booking."""

    __tablename__ = "booking_orders"

    booking_id: uuid.UUID = Field(foreign_key="bookings.id", primary_key=True, ondelete="CASCADE")
    order_id: uuid.UUID = Field(foreign_key="orders.id", primary_key=True, index=True)
