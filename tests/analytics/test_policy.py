"""Periods, granularity, buckets, rates and the point value in force: pure, no database."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from app.analytics.policy import Bucket, Granularity, buckets, choose_granularity, rate
from app.errors import DomainError


def test_granularity_follows_the_period_length() -> None:
    assert choose_granularity(date(2026, 12, 1), date(2026, 12, 31)) is Granularity.DAY
    assert choose_granularity(date(2026, 12, 1), date(2027, 1, 1)) is Granularity.WEEK
    assert choose_granularity(date(2026, 1, 1), date(2026, 12, 31)) is Granularity.MONTH


def test_weeks_start_on_monday_and_cover_the_period_across_a_year() -> None:
    grain, found = buckets(date(2026, 12, 30), date(2027, 1, 5), Granularity.WEEK)
    assert grain is Granularity.WEEK
    assert found == [
        Bucket(date(2026, 12, 28), date(2027, 1, 3)),
        Bucket(date(2027, 1, 4), date(2027, 1, 10)),
    ]


def test_months_are_whole_calendar_months() -> None:
    _, found = buckets(date(2026, 11, 15), date(2027, 2, 1), Granularity.MONTH)
    assert [(b.start, b.end) for b in found] == [
        (date(2026, 11, 1), date(2026, 11, 30)),
        (date(2026, 12, 1), date(2026, 12, 31)),
        (date(2027, 1, 1), date(2027, 1, 31)),
        (date(2027, 2, 1), date(2027, 2, 28)),
    ]


@pytest.mark.parametrize(
    ("start", "end", "grain"),
    [
        (date(2026, 2, 1), date(2026, 1, 1), None),
        (date(2000, 1, 1), date(2026, 1, 1), None),
        (date(2025, 1, 1), date(2026, 6, 1), Granularity.DAY),
    ],
)
def test_bad_periods_are_refused(start: date, end: date, grain: Granularity | None) -> None:
    with pytest.raises(DomainError):
        buckets(start, end, grain)


def test_rates_have_six_places_and_none_without_a_whole() -> None:
    assert rate(1, 3) == Decimal("0.333333")
    assert rate(5, 0) is None
