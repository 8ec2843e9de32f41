"""The kinds of entity that carry tasks, as every layer names them (tables, events, files)."""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    ORDER = "order"
    BOOKING = "booking"
    TRIP = "trip"
    INVOICE = "invoice"
