"""Moments as people read them: in the carrier's timezone, with the zone's abbreviation.

Every time haulflow prints or writes into a note or a history line goes through
`human_moment`, so a page never mixes UTC and local times (JSON keeps ISO-8601 UTC).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from core.settings import get_settings


def human_moment(
    moment: datetime | None, timezone: str | None = None, *, seconds: bool = False
) -> str:
    """`2026-12-02 17:00 CET` in `timezone` (default: the carrier's), or `-` for none."""
    if moment is None:
        return "-"
    zone = ZoneInfo(timezone or get_settings().timezone)
    shape = "%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z"
    return moment.astimezone(zone).strftime(shape)
