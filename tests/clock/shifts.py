"""The clock shifts of `./dev test`'s moved-clock passes, in seconds from now, one per line.

- a year and a half ahead, to a moment when the carrier's calendar and UTC's show different
  days (just after the carrier's midnight, or UTC's for a zone behind UTC): fixed dates in
  tests and the real clock meet there, and a "today" or "tomorrow" taken in the wrong zone
  names the wrong day;
- two minutes before the carrier timezone's next DST change: the first minutes of the pass
  run across it (days then have 23 or 25 hours).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

AHEAD = timedelta(days=548)
BEFORE_CHANGE = timedelta(minutes=2)
INTO_THE_DAY = timedelta(minutes=5)


def next_offset_change(start: datetime, zone: ZoneInfo) -> datetime | None:
    """The first whole hour after `start` at which `zone`'s UTC offset changes; None for a zone
    without one within a year."""
    moment = start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    offset = moment.astimezone(zone).utcoffset()
    for _ in range(24 * 400):
        moment += timedelta(hours=1)
        if moment.astimezone(zone).utcoffset() != offset:
            return moment
    return None


def next_split_day(start: datetime, zone: ZoneInfo) -> datetime:
    """The first moment after `start`, five minutes past a whole hour, at which `zone`'s day and
    UTC's differ; `start` itself for a zone that never differs from UTC."""
    moment = start.replace(minute=0, second=0, microsecond=0) + INTO_THE_DAY
    for _ in range(48):
        moment += timedelta(hours=1)
        if moment.astimezone(zone).date() != moment.astimezone(UTC).date():
            return moment
    return start


def shifts(now: datetime, timezone: str) -> list[int]:
    """The shifts, in whole seconds: the second only for a zone that changes its offset."""
    zone = ZoneInfo(timezone)
    moments = [next_split_day(now + AHEAD, zone)]
    change = next_offset_change(now, zone)
    if change is not None:
        moments.append(change - BEFORE_CHANGE)
    return [int((moment - now).total_seconds()) for moment in moments]


if __name__ == "__main__":
    zone = sys.argv[1] if len(sys.argv) > 1 else "Europe/Paris"
    print("\n".join(str(shift) for shift in shifts(datetime.now(UTC), zone)))  # noqa: T201
