"""Checks across items and against the database: references, uniqueness, roles, documents."""

from __future__ import annotations

import uuid
from collections import ChainMap
from collections.abc import Mapping, Sequence
from typing import Any

from core.suggestions import did_you_mean
from core.text import excerpt
from ingestion.parsing import Broken, Entry, ParsedFile
from ingestion.schema import SECTIONS, FileModel, InvoiceIn, PartyIn, TripIn
from ingestion.stored import EXTERNAL_REFERENCES, Stored
from models import InvoiceKind, PartyKind

# The kind of party each invoice kind is addressed to; credit notes go either way.
_INVOICE_PARTY = {
    InvoiceKind.REVENUE: PartyKind.CUSTOMER,
    InvoiceKind.PURCHASE: PartyKind.SUBCONTRACTOR,
}


def check_file(parsed: ParsedFile, stored: Stored) -> None:
    """Add to `parsed.problems` every problem that no single item shows on its own."""
    kinds = _collect_party_kinds(parsed, stored)
    for party in parsed.parties:
        _check_contacts(parsed, stored, party)
    for order in parsed.orders:
        _check_party(parsed, kinds, "orders", order, "customer", PartyKind.CUSTOMER)
        _check_currency(parsed, "orders", order, stored.orders.get(order.item.reference))
    for booking in parsed.bookings:
        _check_party(parsed, kinds, "bookings", booking, "subcontractor", PartyKind.SUBCONTRACTOR)
        _check_currency(parsed, "bookings", booking, stored.bookings.get(booking.item.reference))
        for position, reference in enumerate(booking.item.orders):
            _check_known(parsed, stored, "bookings", booking.index, ("orders", position), reference)
    for trip in parsed.trips:
        _check_party(parsed, kinds, "trips", trip, "subcontractor", PartyKind.SUBCONTRACTOR)
        _check_trip_orders(parsed, stored, trip)
        _check_removed_stops(parsed, stored, trip)
    for invoice in parsed.invoices:
        expected = _INVOICE_PARTY.get(invoice.item.kind)
        _check_party(parsed, kinds, "invoices", invoice, "party", expected)
        _check_invoice_links(parsed, stored, invoice)
    for section in EXTERNAL_REFERENCES:
        _check_external(parsed, stored, section)
    for broken in parsed.broken:
        _check_broken_references(parsed, stored, kinds, broken)


def _collect_party_kinds(parsed: ParsedFile, stored: Stored) -> Mapping[str, str | None]:
    # Parties are checked before the sections referring to them, so every party of the file
    # is known by then (None: invalid, its kind unknown, already reported); the file's own
    # parties win over the stored ones, without copying them for every chunk.
    parsed.party_kinds.update({e.item.reference: e.item.kind.value for e in parsed.parties})
    stored_kinds: dict[str, str | None] = {r: p.kind for r, p in stored.parties.items()}
    return ChainMap(parsed.party_kinds, stored_kinds)


def _check_party(
    parsed: ParsedFile,
    kinds: Mapping[str, str | None],
    section: str,
    entry: Entry[Any],
    key: str,
    expected: PartyKind | None,
) -> None:
    reference = getattr(entry.item, key)
    if reference is not None:
        _check_party_reference(parsed, kinds, section, entry.index, key, reference, expected)


def _check_party_reference(
    parsed: ParsedFile,
    kinds: Mapping[str, str | None],
    section: str,
    index: int,
    key: str,
    reference: str,
    expected: PartyKind | None,
) -> None:
    if reference not in kinds:
        message = f"{key} '{reference}' is {_NOWHERE}; add it under parties"
        parsed.report(section, index, (key,), message)
    elif expected is not None and kinds[reference] not in (None, expected):
        message = f"{key} '{reference}' is a {kinds[reference]}, not a {expected}"
        parsed.report(section, index, (key,), message)


# The kind of party a reference field names (an invoice's depends on its kind: not checked
# while the item is broken).
_PARTY_FIELDS: dict[str, PartyKind | None] = {
    "customer": PartyKind.CUSTOMER,
    "subcontractor": PartyKind.SUBCONTRACTOR,
    "party": None,
}


def _check_broken_references(
    parsed: ParsedFile, stored: Stored, kinds: Mapping[str, str | None], broken: Broken
) -> None:
    """The valid references of an item that failed validation: reported in the same run."""
    section, index = broken.section, broken.index
    for key, value in broken.references.items():
        if key in _PARTY_FIELDS:
            _check_party_reference(parsed, kinds, section, index, key, value, _PARTY_FIELDS[key])
        elif isinstance(value, list):
            for position, reference in enumerate(value):
                _check_known(parsed, stored, section, index, (key, position), reference)
        else:
            _check_known(parsed, stored, section, index, (key,), value)


_NOWHERE = "neither in this file nor in the database"


def _check_known(
    parsed: ParsedFile,
    stored: Stored,
    section: str,
    index: int,
    path: Sequence[str | int],
    reference: str,
    target: str = "orders",
) -> None:
    if reference in parsed.written.get(target, {}) or reference in getattr(stored, target):
        return
    name = "credited invoice" if path[-1] == "credits" else SECTIONS[target][1]
    position = path[1] if path[0] == "stops" else None
    where = f" (stop {position + 1})" if isinstance(position, int) else ""
    message = f"{name} '{reference}'{where} is {_NOWHERE}; add it under {target}"
    parsed.report(section, index, path, message)


def _check_contacts(parsed: ParsedFile, stored: Stored, entry: Entry[PartyIn]) -> None:
    first_line: dict[str, int] = {}
    for position, contact in enumerate(entry.item.contacts):
        path = ("contacts", position)
        if contact.email in first_line:
            message = f"contact {contact.email} appears twice (first at line "
            message += f"{first_line[contact.email]}); keep one"
            parsed.report("parties", entry.index, (*path, "email"), message)
        first_line.setdefault(contact.email, parsed.source.line_of(("parties", entry.index, *path)))
        for number, role in enumerate(contact.roles):
            if role not in stored.roles:
                hint = (
                    did_you_mean(role, stored.roles)
                    or f"; known roles: {', '.join(sorted(stored.roles))}"
                )
                message = f"contact {contact.email}: unknown role '{role}'{hint}"
                parsed.report("parties", entry.index, (*path, "roles", number), message)


def _check_currency(parsed: ParsedFile, section: str, entry: Entry[Any], row: Any) -> None:
    if (
        _resolve_final(entry.item, "amount", row) is not None
        and _resolve_final(entry.item, "currency", row) is None
    ):
        message = "amount needs a currency (e.g. currency: EUR)"
        parsed.report(section, entry.index, ("amount",), message)


def _resolve_final(item: FileModel, key: str, row: Any, column: str | None = None) -> Any:
    """The value after the import: the file's, or the stored one when the key is left out."""
    if key in item.model_fields_set or row is None:
        return getattr(item, key)
    return getattr(row, column or key)


def _check_trip_orders(parsed: ParsedFile, stored: Stored, entry: Entry[TripIn]) -> None:
    for position, stop in enumerate(entry.item.stops):
        if stop.order is not None:
            path = ("stops", position, "order")
            _check_known(parsed, stored, "trips", entry.index, path, stop.order)
    for position, reference in enumerate(entry.item.orders):
        _check_known(parsed, stored, "trips", entry.index, ("orders", position), reference)


def _check_removed_stops(parsed: ParsedFile, stored: Stored, entry: Entry[TripIn]) -> None:
    trip = stored.trips.get(entry.item.reference)
    if trip is None or "stops" not in entry.item.model_fields_set:
        return
    for stop in stored.trip_stops.get(trip.id, [])[len(entry.item.stops) :]:
        if stop.id in stored.documented_stops:
            message = f"stop {stop.sequence} has documents attached and cannot be removed; "
            message += "keep it in stops"
            parsed.report("trips", entry.index, ("stops",), message)


def _check_invoice_links(parsed: ParsedFile, stored: Stored, entry: Entry[InvoiceIn]) -> None:
    item = entry.item
    if item.order is not None:
        _check_known(parsed, stored, "invoices", entry.index, ("order",), item.order)
    if item.credits is None:
        return
    if item.kind != InvoiceKind.CREDIT_NOTE:
        message = "only a credit note (kind: credit_note) credits another invoice"
        parsed.report("invoices", entry.index, ("credits",), message)
    elif item.credits == item.reference:
        parsed.report("invoices", entry.index, ("credits",), "an invoice cannot credit itself")
    else:
        path = ("credits",)
        _check_known(parsed, stored, "invoices", entry.index, path, item.credits, "invoices")


def _check_external(parsed: ParsedFile, stored: Stored, section: str) -> None:
    """A party's own reference may name one entity of a kind; other parties may reuse it."""
    _, party_key, party_column, column = EXTERNAL_REFERENCES[section]
    singular = SECTIONS[section][1]
    party_of: dict[uuid.UUID, str] = {party.id: ref for ref, party in stored.parties.items()}
    written = parsed.written.get(section, {})
    rows: dict[str, Any] = getattr(stored, section)
    # Kept from chunk to chunk, so a value is unique across the whole file.
    owners = parsed.owners.setdefault(section, {})
    for (party_id, value), reference in stored.external[section].items():
        if party_id in party_of and reference not in written:
            owners.setdefault((party_of[party_id], value), (reference, None))
    for entry in getattr(parsed, section):
        row = rows.get(entry.item.reference)
        party = _resolve_final(entry.item, party_key, row, party_column)
        if isinstance(party, uuid.UUID):
            party = party_of.get(party)
        value = _resolve_final(entry.item, column, row)
        if party is None or value is None:
            continue
        owner = owners.setdefault((party, value), (entry.item.reference, entry.index))
        if owner[0] == entry.item.reference:
            continue
        index = owner[1]
        where = (
            "the database" if index is None else f"line {parsed.source.line_of((section, index))}"
        )
        message = (
            f"{column} {excerpt(value)} is already used by {singular} {owner[0]} of {party_key} "
        )
        message += f"{party} ({where}); it must be unique for each {party_key}"
        parsed.report(section, entry.index, (column,), message)
