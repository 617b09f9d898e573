"""Pure decisions of analytics: periods, granularity and buckets, rates, the point value in
force. No I/O and no clock: the time is passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from app.errors import invalid

MAX_PERIOD_DAYS = 3_700  # ten years and a little: longer asks are mistakes
MAX_BUCKETS = 400
DAY_UP_TO = 31  # a period this long or shorter is shown by day
WEEK_UP_TO = 26 * 7  # then by week; longer periods by month


class Granularity(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class Bucket:
    start: date
    end: date  # its last business day, inclusive


def choose_granularity(start: date, end: date) -> Granularity:
    """Days for a month or less, weeks for half a year or less, months beyond."""
    days = (end - start).days + 1
    if days <= DAY_UP_TO:
        return Granularity.DAY
    if days <= WEEK_UP_TO:
        return Granularity.WEEK
    return Granularity.MONTH


def bucket_start(day: date, grain: Granularity) -> date:
    if grain is Granularity.WEEK:
        return day - timedelta(days=day.weekday())  # Monday, as ISO weeks
    if grain is Granularity.MONTH:
        return day.replace(day=1)
    return day


def next_bucket(start: date, grain: Granularity) -> date:
    if grain is Granularity.WEEK:
        return start + timedelta(days=7)
    if grain is Granularity.MONTH:
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=1)


def check_period(start: date, end: date) -> None:
    if end < start:
        raise invalid("the period ends before it starts", "to")
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise invalid(f"a period is at most {MAX_PERIOD_DAYS} days", "to")


def buckets(start: date, end: date, grain: Granularity | None) -> tuple[Granularity, list[Bucket]]:
    """The whole buckets covering ``[start, end]`` (a week or month period is widened to whole
    weeks or months, so each bucket's active members are counted over the bucket)."""
    check_period(start, end)
    chosen = grain or choose_granularity(start, end)
    found: list[Bucket] = []
    at = bucket_start(start, chosen)
    while at <= end:
        following = next_bucket(at, chosen)
        found.append(Bucket(at, following - timedelta(days=1)))
        at = following
    if len(found) > MAX_BUCKETS:
        raise invalid(
            f"{len(found)} {chosen.value}s: at most {MAX_BUCKETS} buckets, use a coarser "
            "granularity",
            "granularity",
        )
    return chosen, found


def rate(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    """``part / whole`` to six places; None when there is no whole to divide by."""
    if whole == 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.000001"))
