"""The moved-clock passes land where dates go wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.clock.shifts import AHEAD, next_split_day, shifts


def _landing(now: datetime, zone: str) -> list[datetime]:
    return [now + timedelta(seconds=shift) for shift in shifts(now, zone)]


def test_the_far_pass_starts_on_a_day_the_carrier_and_utc_name_differently() -> None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    for zone in ("Europe/Paris", "America/New_York", "Asia/Kolkata"):
        far = _landing(now, zone)[0]
        assert far - now >= AHEAD
        assert far - now < AHEAD + timedelta(days=2)
        assert far.astimezone(ZoneInfo(zone)).date() != far.date(), zone


def test_the_far_pass_in_paris_winter_starts_just_after_the_carriers_midnight() -> None:
    far, _ = _landing(datetime(2026, 12, 4, 12, 0, tzinfo=UTC), "Europe/Paris")
    assert far.astimezone(ZoneInfo("Europe/Paris")).strftime("%H:%M") == "00:05"


def test_the_second_pass_starts_two_minutes_before_the_next_dst_change() -> None:
    _, change = _landing(datetime(2026, 12, 4, 12, 0, tzinfo=UTC), "Europe/Paris")
    assert change == datetime(2027, 3, 28, 0, 58, tzinfo=UTC)


def test_a_zone_that_never_differs_from_utc_keeps_the_start() -> None:
    start = datetime(2028, 6, 4, 12, 0, tzinfo=UTC)
    assert next_split_day(start, ZoneInfo("Etc/UTC")) == start


def test_a_zone_without_dst_gets_the_far_pass_only() -> None:
    assert len(shifts(datetime(2026, 12, 4, 12, 0, tzinfo=UTC), "Asia/Kolkata")) == 1
