"""Expiry policies: when a lot credited at a given instant expires. Pure: no I/O, no clock.

A policy is the programme's (``JIFEN_EXPIRY_POLICY``) or an earning rule's override. Every policy
expires points at a **business-local midnight** (the programme's timezone): a member reads "valid
through 2027-01-15", and everything earned on one day expires together, at the start of the day
after its last valid day.

* ``rolling:N`` — valid through the same business-local date N months after earning (clamped to
  the month's end: earned Mar 31, 1 month → valid through Apr 30). Demo: ``rolling:12``.
* ``year_end`` (= ``year_end:1``) — points earned in a calendar year are valid through Dec 31 of
  the **next** year ("earned last year" is cleared on Dec 31): every point lives 12 to 24 months,
  so nothing earned on Dec 30 vanishes the next day. ``year_end:0`` clears the points earned this
  year on this year's Dec 31 instead.
* ``fixed:YYYY-MM-DD`` — valid through that date, whenever earned (a campaign's points); points
  earned after it would be born expired, so they are refused (``INVALID_INPUT``).
* ``never`` — no expiry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from app.config import Settings
from app.errors import invalid

MAX_MONTHS = 120
MAX_YEARS_AFTER = 10


class ExpiryKind(StrEnum):
    ROLLING = "rolling"
    YEAR_END = "year_end"
    FIXED = "fixed"
    NEVER = "never"


def _add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    for candidate in range(day.day, 27, -1):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    return date(year, month, min(day.day, 28))


def end_of_business_day(day: date, tz: str) -> datetime:
    """The instant a business-local day ends (the next day's local midnight), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)


@dataclass(frozen=True)
class ExpiryPolicy:
    kind: ExpiryKind
    months: int | None = None  # rolling
    years_after: int = 1  # year_end
    valid_through: date | None = None  # fixed

    def last_valid_day(self, earned_on: date) -> date | None:
        """The last business-local day on which points earned on ``earned_on`` can be spent."""
        if self.kind is ExpiryKind.ROLLING:
            return _add_months(earned_on, self.months or 0)
        if self.kind is ExpiryKind.YEAR_END:
            return date(earned_on.year + self.years_after, 12, 31)
        if self.kind is ExpiryKind.FIXED:
            return self.valid_through
        return None

    def expires_at(self, earned_at: datetime, tz: str) -> datetime | None:
        """When points credited at ``earned_at`` expire (None: never)."""
        earned_on = earned_at.astimezone(ZoneInfo(tz)).date()
        last = self.last_valid_day(earned_on)
        return None if last is None else end_of_business_day(last, tz)

    @property
    def text(self) -> str:
        """The policy as configured: ``rolling:12``, ``year_end:1``, ``fixed:2027-06-30``…"""
        if self.kind is ExpiryKind.ROLLING:
            return f"rolling:{self.months}"
        if self.kind is ExpiryKind.YEAR_END:
            return f"year_end:{self.years_after}"
        if self.kind is ExpiryKind.FIXED and self.valid_through is not None:
            return f"fixed:{self.valid_through.isoformat()}"
        return "never"

    def describe(self) -> str:
        if self.kind is ExpiryKind.ROLLING:
            return f"points are valid through the same date {self.months} months after earning"
        if self.kind is ExpiryKind.YEAR_END:
            which = "this year" if self.years_after == 0 else f"{self.years_after} year(s) later"
            return f"points earned in a year are valid through Dec 31 {which}"
        if self.kind is ExpiryKind.FIXED and self.valid_through is not None:
            return f"points are valid through {self.valid_through.isoformat()}"
        return "points never expire"


NEVER = ExpiryPolicy(ExpiryKind.NEVER)


def rolling(months: int) -> ExpiryPolicy:
    return parse_policy(f"rolling:{months}")


def _int_in(raw: str, low: int, high: int, field: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"{raw!r} is not a whole number", field) from None
    if not low <= value <= high:
        raise invalid(f"must be between {low} and {high}", field)
    return value


def parse_policy(text: str, field: str = "expiry") -> ExpiryPolicy:
    """``rolling:N`` | ``year_end[:N]`` | ``fixed:YYYY-MM-DD`` | ``never``; anything else is
    refused with INVALID_INPUT."""
    kind_text, _, arg = text.strip().partition(":")
    try:
        kind = ExpiryKind(kind_text)
    except ValueError:
        choices = "rolling:N, year_end[:N], fixed:YYYY-MM-DD, never"
        raise invalid(f"unknown expiry policy {text!r}: use {choices}", field) from None
    if kind is ExpiryKind.ROLLING:
        return ExpiryPolicy(kind, months=_int_in(arg, 1, MAX_MONTHS, field))
    if kind is ExpiryKind.YEAR_END:
        years = _int_in(arg, 0, MAX_YEARS_AFTER, field) if arg else 1
        return ExpiryPolicy(kind, years_after=years)
    if kind is ExpiryKind.FIXED:
        try:
            return ExpiryPolicy(kind, valid_through=date.fromisoformat(arg))
        except ValueError:
            raise invalid("a fixed expiry needs a date: fixed:YYYY-MM-DD", field) from None
    if arg:
        raise invalid("never takes no argument", field)
    return NEVER


def parse_policy_value(value: Any, field: str = "expiry") -> ExpiryPolicy | None:
    """A policy from JSON (an earning rule's ``expiry``): None, or the text form."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid("expiry must be a string such as rolling:12", field)
    return parse_policy(value, field)


def programme_policy(settings: Settings) -> ExpiryPolicy:
    """The programme's policy: ``expiry_policy`` when set, else ``rolling:<default months>``
    (or never when the months are unset)."""
    if settings.expiry_policy:
        return parse_policy(settings.expiry_policy, "JIFEN_EXPIRY_POLICY")
    months = settings.default_expiry_months
    return NEVER if months is None else ExpiryPolicy(ExpiryKind.ROLLING, months=months)


def kindest(policies: Iterable[ExpiryPolicy], earned_at: datetime, tz: str) -> ExpiryPolicy | None:
    """Of several policies, the one expiring points earned at ``earned_at`` last (never beats
    any date); None when there are none. When rules with different policies share one credit,
    the member gets the kindest."""
    best: ExpiryPolicy | None = None
    best_at: datetime | None = None
    for policy in policies:
        at = policy.expires_at(earned_at, tz)
        if at is None:
            return policy
        if best_at is None or at > best_at:
            best, best_at = policy, at
    return best
