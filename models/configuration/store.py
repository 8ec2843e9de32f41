"""Applied configuration versions in the database: apply a new one, read the current one.

Applying never touches existing tasks: they keep pointing at the definition rows of the
version they were generated from. Mailboxes, custom roles, teams and users
are upserted to their latest state; ones that disappear from the file are kept, because
tasks of older versions may still refer to them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from core.addresses import parse_named_address
from models.base import utcnow
from models.configuration.schema import Configuration
from models.configuration.schema import Mailbox as MailboxSpec
from models.configuration.schema import User as UserSpec
from models.definitions import ConfigVersion, TaskDefinition
from models.mailboxes import Mailbox
from models.parties import Role
from models.users import Team, TeamMember, User


@dataclass
class ApplyReport:
    """What an apply did: the new version (None when the file changed nothing) and how."""

    version: int | None
    previous: int | None
    changes: list[str] = field(default_factory=list)


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file's bytes, recorded with each version."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def current_version(*, session: Session) -> ConfigVersion | None:
    """The latest applied configuration version, or None before the first apply."""
    statement = select(ConfigVersion).order_by(col(ConfigVersion.id).desc()).limit(1)
    return session.exec(statement).first()


def apply_configuration(
    *, session: Session, configuration: Configuration, source_name: str, source_sha256: str, by: str
) -> ApplyReport:
    """Store `configuration` as a new version unless it equals the current one."""
    current = current_version(session=session)
    previous = Configuration.model_validate(current.document) if current else None
    document = configuration.to_document()
    if current is not None and current.document == document:
        return ApplyReport(version=None, previous=current.id)
    version = ConfigVersion(
        id=(current.id + 1) if current else 1,
        applied_by=by,
        source_name=source_name,
        source_sha256=source_sha256,
        document=document,
    )
    session.add(version)
    session.flush()
    for entry in configuration.definitions():
        definition = entry.definition
        session.add(
            TaskDefinition(
                config_version_id=version.id,
                key=definition.key,
                category=entry.category,
                position=entry.position,
                name=definition.name,
                execution=definition.execution,
                auto_generate=definition.auto_generate,
                responsible=definition.responsible,
                mailbox_key=definition.mailbox,
                reply_to=definition.reply_to,
                paused=definition.paused,
                spec=definition.model_dump(mode="json", by_alias=True, exclude_none=True),
            )
        )
    _upsert_roles(session, configuration)
    _upsert_teams_and_users(session, configuration)
    _upsert_mailboxes(session, configuration)
    session.flush()
    return ApplyReport(
        version=version.id,
        previous=current.id if current else None,
        changes=describe_changes(previous, configuration),
    )


def _upsert_roles(session: Session, configuration: Configuration) -> None:
    for spec in configuration.roles:
        role = session.get(Role, spec.key) or Role(key=spec.key, name=spec.name)
        role.name = spec.name
        session.add(role)


def _upsert_teams_and_users(session: Session, configuration: Configuration) -> None:
    for spec in configuration.teams:
        team = session.get(Team, spec.key) or Team(key=spec.key, name=spec.name)
        team.name = spec.name
        session.add(team)
    session.flush()
    for user_spec in configuration.users:
        _upsert_user(session, user_spec)


def _upsert_user(session: Session, spec: UserSpec) -> None:
    user = session.exec(select(User).where(User.username == spec.username)).first()
    if user is None:
        user = User(username=spec.username, name=spec.name)
    user.name, user.email, user.updated_at = spec.name, spec.email, utcnow()
    session.add(user)
    session.flush()
    memberships = session.exec(select(TeamMember).where(TeamMember.user_id == user.id)).all()
    for membership in memberships:
        if membership.team_key not in spec.teams:
            session.delete(membership)
    held = {membership.team_key for membership in memberships}
    for team_key in spec.teams:
        if team_key not in held:
            session.add(TeamMember(team_key=team_key, user_id=user.id))


def _upsert_mailboxes(session: Session, configuration: Configuration) -> None:
    for spec in configuration.mailboxes:
        mailbox = session.get(Mailbox, spec.key)
        values = _mailbox_values(spec)
        if mailbox is None:
            session.add(Mailbox(key=spec.key, **values))
            continue
        for name, value in values.items():
            setattr(mailbox, name, value)
        mailbox.updated_at = utcnow()
        session.add(mailbox)


def _mailbox_values(spec: MailboxSpec) -> dict[str, Any]:
    sender = parse_named_address(spec.from_)
    from_name, from_address = sender.name, sender.address
    return {
        "from_address": from_address,
        "from_name": from_name or None,
        "smtp_host": spec.smtp.host,
        "smtp_port": spec.smtp.port,
        "smtp_security": spec.smtp.security,
        "smtp_username": spec.smtp.username,
        "password_secret": spec.smtp.password_secret,
        "allow_plain_login": spec.smtp.allow_plain_login,
        "bounce_address": spec.bounce,
        "max_message_bytes": spec.max_message_bytes,
        "paused": spec.paused,
    }


def describe_changes(old: Configuration | None, new: Configuration) -> list[str]:
    """Human lines: `+ added`, `- removed`, `~ changed: fields` per definition and mailbox."""
    changes: list[str] = []
    old_definitions = {e.definition.key: e for e in old.definitions()} if old else {}
    new_definitions = {e.definition.key: e for e in new.definitions()}
    for key, entry in new_definitions.items():
        label = f"task {entry.category}/{key}"
        before = old_definitions.get(key)
        if before is None:
            changes.append(f"+ {label} ({entry.definition.name})")
        elif fields := _changed_fields(
            before.definition.model_dump(), entry.definition.model_dump()
        ):
            changes.append(f"~ {label}: {', '.join(fields)}")
    changes.extend(
        f"- task {entry.category}/{key}"
        for key, entry in old_definitions.items()
        if key not in new_definitions
    )
    old_mailboxes = {m.key: m for m in old.mailboxes} if old else {}
    for mailbox in new.mailboxes:
        before_mailbox = old_mailboxes.get(mailbox.key)
        if before_mailbox is None:
            changes.append(f"+ mailbox {mailbox.key}")
        elif fields := _changed_fields(before_mailbox.model_dump(), mailbox.model_dump()):
            changes.append(f"~ mailbox {mailbox.key}: {', '.join(fields)}")
    new_mailbox_keys = {mailbox.key for mailbox in new.mailboxes}
    changes.extend(f"- mailbox {key}" for key in old_mailboxes if key not in new_mailbox_keys)
    if old is not None:
        for section in ("roles", "teams", "users", "carrier", "extra_fields", "fallback_role"):
            if getattr(old, section) != getattr(new, section):
                changes.append(f"~ {section}")
    return changes


def _changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [name for name in after if before.get(name) != after[name]]
