"""Upsert parties, their contacts and roles, and the carrier's users."""

from __future__ import annotations

import uuid

from ingestion.parsing import ParsedFile
from ingestion.schema import ContactIn
from ingestion.writer import Writer, pick_given
from models import Contact, ContactRole, Party, User


def write_parties(writer: Writer, parsed: ParsedFile) -> None:
    """Create or update every party of the file (contacts come in the next stage)."""
    for entry in parsed.parties:
        item = entry.item
        values = pick_given(item, "reference", "kind", "name", "country", "language", "timezone")
        upserted = writer.upsert(Party, writer.stored.parties, item.reference, values)
        writer.zones[upserted.id] = item.timezone
        writer.finish("parties", upserted)


def write_users(writer: Writer, parsed: ParsedFile) -> None:
    """Create or update every user of the file."""
    for entry in parsed.users:
        values = pick_given(entry.item, "username", "name", "email", "active")
        upserted = writer.upsert(User, writer.stored.users, entry.item.username, values)
        writer.finish("users", upserted)


def write_contacts(writer: Writer, parsed: ParsedFile) -> None:
    """Upsert the listed contacts of each party, matched by email; unlisted ones stay."""
    for entry in parsed.parties:
        if not entry.item.contacts:
            continue
        party_id = writer.ids[Party][entry.item.reference]
        stored = writer.stored.contacts.get(party_id, {})
        for item in entry.item.contacts:
            values = {"party_id": party_id, **pick_given(item, "email", "name", "language")}
            upserted = writer.upsert(Contact, stored, item.email, values)
            roles = "roles" in item.model_fields_set and _write_roles(writer, upserted.id, item)
            writer.finish("contacts", upserted, changed=roles)


def _write_roles(writer: Writer, contact_id: uuid.UUID, item: ContactIn) -> bool:
    """Make the contact hold exactly the file's roles; whether that changed anything."""
    held = writer.stored.contact_roles.get(contact_id, {})
    return writer.sync(
        held, item.roles, ContactRole, lambda key: {"contact_id": contact_id, "role_key": key}
    )
