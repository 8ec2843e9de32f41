"""API tokens: create (the secret shown once), list, revoke, and find the token of a request."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from core.database import session_scope
from core.errors import ConflictError, HaulflowError, NotFoundError
from models import ApiToken, Scope

PREFIX = "hf_"
# `last_used_at` is written at most this often per token: not one write per request.
USE_RECORDED_EVERY = timedelta(minutes=1)
NAME_LENGTH = 60


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(*, name: str, scopes: Iterable[Scope], now: datetime) -> tuple[ApiToken, str]:
    """A new token and its secret, which is stored nowhere: the caller shows it once."""
    name = name.strip()
    if not name or len(name) > NAME_LENGTH or not name.isprintable():
        raise HaulflowError(
            f"token name {name[:NAME_LENGTH]!r}: give 1 to {NAME_LENGTH} printable characters, "
            "e.g. the system that will use it (tms, driver-app)"
        )
    wanted = sorted(set(scopes))
    if not wanted:
        raise HaulflowError("give at least one scope: read, write or send")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        hint=secret[: len(PREFIX) + 6],
        secret_sha256=digest(secret),
        scopes=",".join(wanted),
        created_at=now,
    )
    try:
        with session_scope() as session:
            session.add(token)
    except IntegrityError:
        raise ConflictError(
            f"a token named {name!r} exists already (revoked ones keep their name, as the "
            "histories cite it): choose another name"
        ) from None
    return token, secret


def list_tokens() -> list[ApiToken]:
    with session_scope() as session:
        return list(session.exec(select(ApiToken).order_by(col(ApiToken.created_at))))


def revoke_token(*, name: str, now: datetime) -> ApiToken:
    """Revoke the token `name`; its next request is refused. Revoking twice changes nothing."""
    with session_scope() as session:
        token = session.exec(select(ApiToken).where(ApiToken.name == name.strip())).first()
        if token is None:
            raise NotFoundError(f"no token named {name!r}: `haulflow tokens list` shows them")
        if token.revoked_at is None:
            token.revoked_at = now
        return token


def authenticate(secret: str, *, now: datetime) -> ApiToken | None:
    """The live token whose secret this is, or None (unknown or revoked alike)."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    with session_scope() as session:
        token = session.exec(
            select(ApiToken).where(ApiToken.secret_sha256 == digest(secret))
        ).first()
        if token is None or token.revoked_at is not None:
            return None
        if token.last_used_at is None or now - token.last_used_at >= USE_RECORDED_EVERY:
            token.last_used_at = now
        return token
