"""Upsert orders, bookings, trips and invoices, with their links and status history."""

from __future__ import annotations

import uuid
from typing import Any
from zoneinfo import ZoneInfo

from ingestion.parsing import ParsedFile
from ingestion.schema import FileModel, PlaceIn, StopIn, TripIn
from ingestion.writer import Row, Writer, apply_values, pick_given
from models import (
    Booking,
    BookingOrder,
    Category,
    Invoice,
    Order,
    Party,
    Trip,
    TripContact,
    TripOrder,
    TripStop,
)


def write_orders(writer: Writer, parsed: ParsedFile) -> None:
    """Create or update every order; local times are the customer's."""
    for entry in parsed.orders:
        item = entry.item
        customer_id = writer.ids[Party][item.customer]
        zone = writer.zone_for(customer_id)
        values = {"reference": item.reference, "customer_id": customer_id}
        values |= pick_given(item, "customer_reference", "status", "amount", "currency")
        for place in ("pickup", "delivery"):
            if place in item.model_fields_set:
                values |= _pick_place_values(writer, place, getattr(item, place), zone)
        rows = writer.stored.orders
        upserted = writer.upsert(Order, rows, item.reference, values, category=Category.ORDER)
        writer.finish("orders", upserted)


def _pick_place_values(writer: Writer, prefix: str, place: PlaceIn | None, zone: ZoneInfo) -> Row:
    if place is None:
        return {f"{prefix}_country": None, f"{prefix}_at": None}
    values: Row = {}
    if "country" in place.model_fields_set:
        values[f"{prefix}_country"] = place.country
    if "at" in place.model_fields_set:
        values[f"{prefix}_at"] = writer.to_instant(place.at, zone)
    return values


def write_bookings(writer: Writer, parsed: ParsedFile) -> None:
    """Create or update every booking and the orders it serves."""
    for entry in parsed.bookings:
        item = entry.item
        rows = writer.stored.bookings
        values, zone = _pick_subcontractor(writer, rows.get(item.reference), item)
        values |= pick_given(item, "external_reference", "status", "amount", "currency")
        values |= _pick_instants(writer, item, zone, "slot_start_at", "slot_end_at")
        upserted = writer.upsert(Booking, rows, item.reference, values, category=Category.BOOKING)
        links = "orders" in item.model_fields_set and _write_booking_orders(
            writer, upserted.id, item.orders
        )
        writer.finish("bookings", upserted, changed=links)


def _write_booking_orders(writer: Writer, booking_id: uuid.UUID, references: list[str]) -> bool:
    held = writer.stored.booking_orders.get(booking_id, {})
    wanted = [writer.ids[Order][reference] for reference in references]
    return writer.sync(
        held, wanted, BookingOrder, lambda o: {"booking_id": booking_id, "order_id": o}
    )


def write_trips(writer: Writer, parsed: ParsedFile) -> None:
    """Create or update every trip with its stops, orders and contact emails."""
    for entry in parsed.trips:
        item = entry.item
        rows = writer.stored.trips
        values, zone = _pick_subcontractor(writer, rows.get(item.reference), item)
        values |= pick_given(item, "status", "vehicle", "driver_name")
        values |= _pick_instants(writer, item, zone, "start_at", "end_at")
        upserted = writer.upsert(Trip, rows, item.reference, values, category=Category.TRIP)
        details = _write_trip_details(writer, upserted.id, item, zone)
        writer.finish("trips", upserted, changed=details)


def _write_trip_details(writer: Writer, trip_id: uuid.UUID, item: TripIn, zone: ZoneInfo) -> bool:
    given_keys = item.model_fields_set
    changed = False
    if "contact_emails" in given_keys:
        held_emails = writer.stored.trip_contacts.get(trip_id, {})
        changed = writer.sync(
            held_emails,
            item.contact_emails,
            TripContact,
            lambda e: {"trip_id": trip_id, "email": e},
        )
    stops = writer.stored.trip_stops.get(trip_id, [])
    stop_orders = [stop.order_id for stop in stops]
    if "stops" in given_keys:
        stops_changed, stop_orders = _write_stops(writer, trip_id, stops, item.stops, zone)
        changed = stops_changed or changed
    # The trip carries the orders of its stops plus those listed under `orders`.
    if "stops" in given_keys or "orders" in given_keys:
        wanted = [order_id for order_id in stop_orders if order_id is not None]
        wanted += [writer.ids[Order][reference] for reference in item.orders]
        held = writer.stored.trip_orders.get(trip_id, {})
        links = writer.sync(held, wanted, TripOrder, lambda o: {"trip_id": trip_id, "order_id": o})
        changed = links or changed
    return changed


def _write_stops(
    writer: Writer, trip_id: uuid.UUID, held: list[TripStop], items: list[StopIn], zone: ZoneInfo
) -> tuple[bool, list[uuid.UUID | None]]:
    """Match stops by position: update in place (documents stay attached), add, remove."""
    changed = len(held) > len(items)
    for stop in held[len(items) :]:
        writer.session.delete(stop)
    orders: list[uuid.UUID | None] = []
    sequence = 0
    for position, item in enumerate(items):
        values = pick_given(item, "kind", "name", "city", "country")
        values |= _pick_instants(writer, item, zone, "planned_at", "completed_at")
        if "order" in item.model_fields_set:
            values["order_id"] = writer.find_id(Order, item.order)
        if position < len(held):
            stop = held[position]
            changed = apply_values(stop, values) or changed
            sequence, order_id = stop.sequence, stop.order_id
        else:
            # After the last kept stop, so no sequence is ever taken twice mid-flush.
            sequence += 1
            new = writer.insert(
                TripStop, {"trip_id": trip_id, "sequence": sequence, **values}, later=True
            )
            order_id, changed = new["order_id"], True
        orders.append(order_id)
    return changed, orders


def write_invoices(writer: Writer, parsed: ParsedFile, *, credit_notes: bool) -> None:
    """Create or update invoices; those crediting another one go in a later stage."""
    for entry in parsed.invoices:
        item = entry.item
        if (item.credits is not None) != credit_notes:
            continue
        party_id = writer.ids[Party][item.party]
        values = {"reference": item.reference, "party_id": party_id}
        values |= pick_given(item, "kind", "external_reference", "status", "amount", "currency")
        values |= _pick_instants(writer, item, writer.zone_for(party_id), "issued_at", "due_at")
        if "order" in item.model_fields_set:
            values["order_id"] = writer.find_id(Order, item.order)
        if "credits" in item.model_fields_set:
            values["credited_invoice_id"] = writer.find_id(Invoice, item.credits)
        rows = writer.stored.invoices
        upserted = writer.upsert(Invoice, rows, item.reference, values, category=Category.INVOICE)
        writer.finish("invoices", upserted)


def _pick_subcontractor(
    writer: Writer, row: Booking | Trip | None, item: Any
) -> tuple[Row, ZoneInfo]:
    """The key and subcontractor values, and the zone of local times (the subcontractor's)."""
    values: Row = {"reference": item.reference}
    subcontractor_id = row.subcontractor_id if row is not None else None
    if "subcontractor" in item.model_fields_set:
        subcontractor_id = writer.find_id(Party, item.subcontractor)
        values["subcontractor_id"] = subcontractor_id
    return values, writer.zone_for(subcontractor_id)


def _pick_instants(writer: Writer, item: FileModel, zone: ZoneInfo, *keys: str) -> Row:
    return {key: writer.to_instant(value, zone) for key, value in pick_given(item, *keys).items()}
