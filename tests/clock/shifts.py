"""The clock shifts of `./dev test`'s moved-clock passes, in seconds from now, one per line.

- a year and a half ahead: fixed dates in tests and the real clock meet there;
- two minutes before the carrier timezone's next DST change: the first minutes of the pass
  run across it (days then have 23 or 25 hours).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

AHEAD = timedelta(days=548)
BEFORE_CHANGE = timedelta(minutes=2)


def next_offset_change(start: datetime, zone: ZoneInfo) -> datetime:
    """The first whole hour after `start` at which `zone`'s UTC offset changes."""
    moment = start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    offset = moment.astimezone(zone).utcoffset()
    for _ in range(24 * 400):
        moment += timedelta(hours=1)
        if moment.astimezone(zone).utcoffset() != offset:
            return moment
    raise ValueError(f"{zone.key} has no offset change within a year")


def shifts(now: datetime, timezone: str) -> list[int]:
    """The two shifts, in whole seconds."""
    change = next_offset_change(now, ZoneInfo(timezone))
    return [int(AHEAD.total_seconds()), int((change - BEFORE_CHANGE - now).total_seconds())]


if __name__ == "__main__":
    zone = sys.argv[1] if len(sys.argv) > 1 else "Europe/Paris"
    print("\n".join(str(shift) for shift in shifts(datetime.now(UTC), zone)))  # noqa: T201
