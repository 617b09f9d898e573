"""The injectable clock and business-day helpers.

Business logic never calls ``datetime.now()``: it asks a :class:`Clock`, so tests can move time.
Days, weeks and months are business-local (the programme's timezone).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to (tests, simulations)."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._at = at

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at

    def advance(self, delta: timedelta) -> None:
        self._at += delta


def business_date(at: datetime, tz: str) -> date:
    """The business-local calendar day of an instant."""
    return at.astimezone(ZoneInfo(tz)).date()


def business_midnight(day: date, tz: str) -> datetime:
    """The instant a business-local day begins."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(tz))


def add_months(at: datetime, months: int) -> datetime:
    """The same wall-clock instant ``months`` later, clamped to the month's last day."""
    month_index = at.month - 1 + months
    year, month = at.year + month_index // 12, month_index % 12 + 1
    for day in range(at.day, 27, -1):
        try:
            return at.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return at.replace(year=year, month=month, day=min(at.day, 28))


system_clock = SystemClock()
