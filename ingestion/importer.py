"""`haulflow import FILE`: upsert parties, users, orders, bookings, trips and invoices.

The whole file is checked before anything is written: its format (`ingestion.schema`), every
reference (to the file or to the database) and every uniqueness rule. Any problem raises
`InvalidFileError` listing all of them as `FILE:LINE: message`; nothing is written then.
Writes go to the caller's session without committing, so the caller's rollback also undoes
a database error halfway through.

Upserts match the carrier's reference (parties, orders, bookings, trips, invoices) or the
username (users). Rules a file author relies on:

- A key left out of an item keeps the stored value (a new entity takes the default); `null`
  clears it.
- Contacts are matched by email within their party: listed contacts are created or updated
  (`roles`, when given, replaces the roles they hold); contacts not listed are left alone, so
  a partial export never drops a contact other tasks still address.
- A trip's `stops` replace its stops by position: stop N of the file updates stored stop N in
  place (its documents stay attached), extra stops are added, missing ones removed (refused
  when a document is attached). When `stops` or `orders` is given, the trip carries the orders
  of its stops plus those listed under `orders`. A booking's `orders` and a trip's
  `contact_emails`, when given, replace the stored ones.
- Date-times are ISO 8601; with an offset they are that instant, without one they are local
  times of the entity's party: the customer for an order, the subcontractor for a booking or
  trip (the carrier's `timezone` setting without one), the party for an invoice. A date alone
  means midnight. A local time inside a DST change takes the offset in force before it.
- A status, when new or different, is recorded as a `StatusChange` by `by`; any transition is
  accepted. `updated_at` moves only when something actually changed.
"""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from core.errors import InvalidFileError
from core.sourcefile import load_source
from ingestion.checks import check_file
from ingestion.parsing import ParsedFile, parse_file
from ingestion.party_upserts import write_contacts, write_parties, write_users
from ingestion.report import Counts, ImportReport
from ingestion.stored import Stored, load_stored
from ingestion.transport_upserts import write_bookings, write_invoices, write_orders, write_trips
from ingestion.writer import Writer

__all__ = ["Counts", "ImportReport", "import_file"]


def import_file(path: Path, *, session: Session, by: str) -> ImportReport:
    """Check the whole file, then upsert it in `session` (the caller commits)."""
    source = load_source(path)
    parsed = parse_file(source)
    if source.data is None and parsed.problems:
        raise InvalidFileError(parsed.problems)
    with session.no_autoflush:
        stored = load_stored(session=session, parsed=parsed)
        check_file(parsed, stored)
        if parsed.problems:
            raise InvalidFileError(parsed.problems)
        return _write(session=session, parsed=parsed, stored=stored, by=by)


def _write(*, session: Session, parsed: ParsedFile, stored: Stored, by: str) -> ImportReport:
    """Upsert in four flushed stages, each referring only to rows of the earlier ones."""
    writer = Writer(session=session, stored=stored, by=by)
    write_parties(writer, parsed)
    write_users(writer, parsed)
    writer.flush()
    write_contacts(writer, parsed)
    write_orders(writer, parsed)
    writer.flush()
    write_bookings(writer, parsed)
    write_trips(writer, parsed)
    write_invoices(writer, parsed, credit_notes=False)
    writer.flush()
    write_invoices(writer, parsed, credit_notes=True)
    writer.flush_all()
    return writer.report
