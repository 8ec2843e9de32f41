"""Trips: a vehicle's journey carrying orders, with its stops and contact emails."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import EntityColumns, UTCDateTime


class TripStatus(StrEnum):
    PLANNED = "planned"
    STARTED = "started"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class StopKind(StrEnum):
    PICKUP = "pickup"
    DELIVERY = "delivery"


class Trip(EntityColumns, table=True):
    """A trip; a subcontracted one names its subcontractor."""

    __tablename__ = "trips"

    subcontractor_id: uuid.UUID | None = Field(default=None, foreign_key="parties.id", index=True)
    status: str = Field(default=TripStatus.PLANNED, max_length=16, index=True)
    vehicle: str | None = Field(default=None, max_length=64)
    driver_name: str | None = Field(default=None, max_length=200)
    start_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    end_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TripOrder(SQLModel, table=True):
    """An order carried by a trip."""

    __tablename__ = "trip_orders"

    trip_id: uuid.UUID = Field(foreign_key="trips.id", primary_key=True, ondelete="CASCADE")
    order_id: uuid.UUID = Field(foreign_key="orders.id", primary_key=True, index=True)


class TripStop(SQLModel, table=True):
    """A pickup or delivery on a trip, for one order; a POD belongs to a delivery stop."""

    __tablename__ = "trip_stops"
    __table_args__ = (sa.UniqueConstraint("trip_id", "sequence"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    trip_id: uuid.UUID = Field(foreign_key="trips.id", index=True, ondelete="CASCADE")
    sequence: int
    kind: str = Field(max_length=16)
    order_id: uuid.UUID | None = Field(default=None, foreign_key="orders.id", index=True)
    name: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    country: str | None = Field(default=None, max_length=2)
    planned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TripContact(SQLModel, table=True):
    """A contact email stored on a trip (a TMS's "E-mails de contact" extra field)."""

    __tablename__ = "trip_contacts"

    trip_id: uuid.UUID = Field(foreign_key="trips.id", primary_key=True, ondelete="CASCADE")
    email: str = Field(max_length=254, primary_key=True)
