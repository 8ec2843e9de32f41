"""Who a task's e-mails go to, resolved once when the task is created.

For each entity, in this order:

1. Contacts of the entity's parties (an order's customer, a booking's subcontractor, the
   customers of a trip's orders, an invoice's party) holding one of `intended_for.roles`
   (source `role:KEY`, the first requested role the contact holds). A contact without any
   role is never targeted.
2. When a party has no contact holding any requested role, its contacts holding the
   configuration's `fallback_role` (source `fallback:KEY`). Roles that neither found for a
   party are reported in `unmatched_roles`; so are all roles of an entity without party.
3. With `intended_for.trip_contacts`, the trip contacts of the entity (source
   `trip-contact`): a trip's own, or those of the trips carrying an order. A trip contact
   that is also a contact of a party is tagged with that party (the entity's own first): on
   a groupage trip, another customer's address stays out of this customer's e-mail.
4. `intended_for.addresses` (source `address`).

Each recipient is `{"email", "name", "party_id", "source", "language"}`: `party_id` (text)
says whose contact it is, so a trip's e-mail can send each customer only its own documents;
it is None for trip contacts and addresses. `language` is the contact's, else its party's;
None means the e-mail's default language. Addresses are validated (syntax only), lowercased
and de-duplicated, the first occurrence winning; invalid ones are dropped and reported.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.addresses import AddressError, parse_address, parse_named_address
from lifecycle.entities import EntitySnapshot, in_chunks
from models import Contact, ContactRole, Party

Recipient = dict[str, Any]


@dataclass(frozen=True)
class Resolution:
    """The recipients of one task, the requested roles nobody holds, the invalid addresses."""

    recipients: list[Recipient]
    unmatched_roles: list[str]
    invalid_addresses: list[str] = field(default_factory=list)


@dataclass
class _Contact:
    email: str
    name: str | None
    language: str | None
    roles: set[str] = field(default_factory=set)


@lru_cache(maxsize=10_000)
def normalize_address(address: str) -> str | None:
    """The address validated (`core.addresses`) and lowercased, or None when it is invalid."""
    try:
        return parse_address(address).lower()
    except AddressError:
        return None


def _split(text: str) -> tuple[str, str]:
    """(name, address) of a configured fixed address; an invalid one is reported as such."""
    try:
        named = parse_named_address(text)
    except AddressError:
        return "", text
    return named.name, named.address


def resolve_recipients(
    *,
    session: Session,
    intended_for: Mapping[str, Any],
    snapshots: list[EntitySnapshot],
    fallback_role: str | None,
) -> dict[uuid.UUID, Resolution]:
    """The recipients of a task `intended_for` on each snapshot, with one query per chunk."""
    roles = list(intended_for.get("roles", ()))
    wanted = roles + [fallback_role] if fallback_role and fallback_role not in roles else roles
    party_ids = {party_id for snapshot in snapshots for party_id in snapshot.party_ids}
    contacts = _load_contacts(session, party_ids, wanted) if roles else {}
    addresses = [_split(text) for text in intended_for.get("addresses", ())]
    owners = (
        _contact_owners(session, {e for s in snapshots for e in s.trip_contact_emails})
        if intended_for.get("trip_contacts")
        else {}
    )
    resolutions = {}
    for snapshot in snapshots:
        builder = _Builder()
        unmatched: list[str] = list(roles) if roles and not snapshot.party_ids else []
        for party_id in snapshot.party_ids if roles else ():
            held = contacts.get(party_id, [])
            missing = _add_party(builder, party_id, held, roles, fallback_role)
            unmatched.extend(role for role in missing if role not in unmatched)
        if intended_for.get("trip_contacts"):
            for email in snapshot.trip_contact_emails:
                holders = owners.get(email.strip().lower(), [])
                own = [party for party in holders if party in snapshot.party_ids]
                party = next(iter(own or holders), None)
                builder.add(email, None, party, "trip-contact", None)
        for name, email in addresses:
            builder.add(email, name or None, None, "address", None)
        resolutions[snapshot.id] = Resolution(builder.recipients, unmatched, builder.invalid)
    return resolutions


def _add_party(
    builder: _Builder,
    party_id: uuid.UUID,
    contacts: list[_Contact],
    roles: list[str],
    fallback_role: str | None,
) -> list[str]:
    """Add a party's contacts holding `roles`, else its fallback; return the roles unmatched."""
    chosen = [
        (min(roles.index(role) for role in contact.roles if role in roles), contact)
        for contact in contacts
        if contact.roles & set(roles)
    ]
    for index, contact in sorted(chosen, key=lambda pair: (pair[0], pair[1].email)):
        builder.add(contact.email, contact.name, party_id, f"role:{roles[index]}", contact.language)
    if not chosen and fallback_role is not None:
        stand_ins = [contact for contact in contacts if fallback_role in contact.roles]
        for contact in stand_ins:
            source = f"fallback:{fallback_role}"
            builder.add(contact.email, contact.name, party_id, source, contact.language)
        if stand_ins:
            return []
    held = {role for contact in contacts for role in contact.roles}
    return [role for role in roles if role not in held]


class _Builder:
    """Recipients in order, validated and de-duplicated by lowercased address."""

    def __init__(self) -> None:
        self.recipients: list[Recipient] = []
        self.invalid: list[str] = []
        self._seen: set[str] = set()

    def add(
        self,
        email: str,
        name: str | None,
        party_id: uuid.UUID | None,
        source: str,
        language: str | None,
    ) -> None:
        address = normalize_address(email.strip())
        if address is None:
            if email not in self.invalid:
                self.invalid.append(email)
            return
        if address in self._seen:
            return
        self._seen.add(address)
        self.recipients.append(
            {
                "email": address,
                "name": name,
                "party_id": str(party_id) if party_id is not None else None,
                "source": source,
                "language": language,
            }
        )


def _contact_owners(session: Session, emails: set[str]) -> dict[str, list[uuid.UUID]]:
    """The parties each address is a contact of, by lowercased address, one query a chunk."""
    owners: dict[str, list[uuid.UUID]] = defaultdict(list)
    wanted = sorted({email.strip().lower() for email in emails})
    for chunk in in_chunks(wanted):
        rows = session.exec(
            select(Contact.email, Contact.party_id)
            .where(sa.func.lower(Contact.email).in_(chunk))
            .order_by(col(Contact.party_id))
        ).all()
        for email, party_id in rows:
            owners[email.lower()].append(party_id)
    return owners


def _load_contacts(
    session: Session, party_ids: Iterable[uuid.UUID], roles: list[str]
) -> dict[uuid.UUID, list[_Contact]]:
    """Contacts of these parties holding any of `roles`, by party, ordered by address."""
    by_party: dict[uuid.UUID, dict[str, _Contact]] = defaultdict(dict)
    for chunk in in_chunks(sorted(party_ids)):
        rows = session.exec(
            select(Contact, Party.language, ContactRole.role_key)
            .join(ContactRole, col(ContactRole.contact_id) == Contact.id)
            .join(Party, col(Party.id) == Contact.party_id)
            .where(col(Contact.party_id).in_(chunk), col(ContactRole.role_key).in_(roles))
            .order_by(col(Contact.party_id), col(Contact.email))
        ).all()
        for row, party_language, role in rows:
            contact = by_party[row.party_id].get(row.email)
            if contact is None:
                contact = _Contact(row.email, row.name, row.language or party_language)
                by_party[row.party_id][row.email] = contact
            contact.roles.add(role)
    return {party_id: list(contacts.values()) for party_id, contacts in by_party.items()}
