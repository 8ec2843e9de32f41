"""Sending accounts: the SMTP endpoint and identity an email task sends from."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow


class SmtpSecurity(StrEnum):
    PLAIN = "plain"
    STARTTLS = "starttls"
    SSL = "ssl"


class Mailbox(SQLModel, table=True):
    """A mailbox as last applied from configuration.

    The password is never stored: `password_secret` names an environment variable or a
    Prefect Secret block (`prefect-block:<name>`) read at send time.
    """

    __tablename__ = "mailboxes"

    key: str = Field(max_length=40, primary_key=True)
    from_address: str = Field(max_length=254)
    from_name: str | None = Field(default=None, max_length=200)
    smtp_host: str = Field(max_length=253)
    smtp_port: int
    smtp_security: str = Field(max_length=16)
    smtp_username: str | None = Field(default=None, max_length=254)
    password_secret: str | None = Field(default=None, max_length=200)
    allow_plain_login: bool = False
    bounce_address: str | None = Field(default=None, max_length=254)
    max_message_bytes: int
    paused: bool = False
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
