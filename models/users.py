"""The carrier's own people and teams: who can be responsible for a task."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow


class User(SQLModel, table=True):
    """A person of the carrier who can own and finish tasks."""

    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=254)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Team(SQLModel, table=True):
    """A group of users that can own tasks together (e.g. customer service)."""

    __tablename__ = "teams"

    key: str = Field(max_length=40, primary_key=True)
    name: str = Field(max_length=100)


class TeamMember(SQLModel, table=True):
    """A user's membership of a team."""

    __tablename__ = "team_members"

    team_key: str = Field(foreign_key="teams.key", primary_key=True, max_length=40)
    user_id: uuid.UUID = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
