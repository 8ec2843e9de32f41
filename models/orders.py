"""Orders: a customer's transport request, the entity most tasks hang on."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field

from models.base import EntityColumns, UTCDateTime


class OrderStatus(StrEnum):
    PLANNED = "planned"
    LOADED = "loaded"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class Order(EntityColumns, table=True):
    """A customer's order; `customer_reference` is the customer's own number for it."""

    __tablename__ = "orders"
    __table_args__ = (sa.UniqueConstraint("customer_id", "customer_reference"),)

    customer_id: uuid.UUID = Field(foreign_key="parties.id", index=True)
    customer_reference: str | None = Field(default=None, max_length=64)
    status: str = Field(default=OrderStatus.PLANNED, max_length=16, index=True)
    pickup_country: str | None = Field(default=None, max_length=2)
    delivery_country: str | None = Field(default=None, max_length=2)
    pickup_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivery_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    amount: Decimal | None = Field(default=None, max_digits=14, decimal_places=2)
    currency: str | None = Field(default=None, max_length=3)
