"""The point's value policy: pure rules, at the boundary moments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.valuation.value_policy import (
    NotEnoughValue,
    SpendableLot,
    ValuePolicy,
    ValuePolicyError,
    devalued,
    lot_factor,
    most_points_within,
    pay_points,
    pay_price,
)

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
HALF = ValuePolicy.parse(30, "0.5", {"gold": "1.2"})


def test_the_window_opens_exactly_n_days_before_expiry() -> None:
    expires = NOW + timedelta(days=30)
    assert devalued(HALF, expires, NOW)  # exactly 30 days before: inside
    assert not devalued(HALF, expires + timedelta(microseconds=1), NOW)  # a moment more: outside
    assert not devalued(HALF, None, NOW)  # never-expiring points never devalue
    assert not devalued(ValuePolicy(), expires, NOW)  # no policy, no window


def test_a_factor_multiplies_the_premium_and_the_fraction() -> None:
    soon, later = NOW + timedelta(days=1), NOW + timedelta(days=100)
    assert lot_factor(HALF, soon, NOW, None) == Decimal("0.5")
    assert lot_factor(HALF, later, NOW, None) == 1
    assert lot_factor(HALF, later, NOW, "gold") == Decimal("1.2")
    assert lot_factor(HALF, soon, NOW, "gold") == Decimal("0.6")
    assert lot_factor(HALF, soon, NOW, "silver") == Decimal("0.5")


def test_a_price_is_paid_first_to_expire_first_rounding_up() -> None:
    lots = [
        SpendableLot(1, 100, NOW + timedelta(days=10)),  # devalued: 100 points count 50
        SpendableLot(2, 1_000, NOW + timedelta(days=200)),
    ]
    paid = pay_price(HALF, lots, 200, NOW, None)
    assert [(p.lot_id, p.points) for p in paid.lots] == [(1, 100), (2, 150)]
    assert paid.points == 250 and paid.value == 200
    premium = pay_price(HALF, [lots[1]], 200, NOW, "gold")
    assert premium.points == 167 and premium.value >= 200  # ceil(200 / 1.2): never below price
    with pytest.raises(NotEnoughValue):
        pay_price(HALF, lots[:1], 51, NOW, None)


def test_the_same_lots_cost_more_the_moment_the_window_opens() -> None:
    lot = [SpendableLot(1, 1_000, NOW + timedelta(days=30))]
    before = NOW - timedelta(microseconds=1)
    assert pay_price(HALF, lot, 200, before, None).points == 200
    assert pay_price(HALF, lot, 200, NOW, None).points == 400


def test_points_given_and_the_most_within_a_cap() -> None:
    lots = [SpendableLot(1, 10, NOW + timedelta(days=1)), SpendableLot(2, 100, None)]
    assert pay_points(HALF, lots, 30, NOW, None).value == Decimal(25)
    assert most_points_within(HALF, lots, Decimal(25), NOW, None) == 30
    assert most_points_within(HALF, lots, Decimal("4.9"), NOW, None) == 9
    assert most_points_within(HALF, lots, Decimal(1_000), NOW, None) == 110


@pytest.mark.parametrize(
    ("days", "fraction", "premiums"),
    [(30, "0", {}), (30, "1.5", {}), (30, "NaN", {}), (30, "x", {}), (30, "1", {"g": "0.9"})],
)
def test_a_bad_policy_is_refused(days: int, fraction: str, premiums: dict[str, str]) -> None:
    with pytest.raises(ValuePolicyError):
        ValuePolicy.parse(days, fraction, premiums)


def test_no_policy_is_inactive() -> None:
    assert not ValuePolicy().active
    assert not ValuePolicy.parse(30, "1", {"gold": "1"}).active
    assert HALF.active
