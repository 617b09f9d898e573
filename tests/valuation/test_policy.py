"""The point value in force at a moment: pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from app.valuation.policy import PointValue, plain, value_at


def test_the_point_value_in_force_is_the_latest_effective_change() -> None:
    history = [
        PointValue(Decimal("0.2"), datetime(2026, 6, 1, tzinfo=UTC)),
        PointValue(Decimal("0.05"), datetime(2026, 9, 1, tzinfo=UTC)),
    ]
    default = Decimal("0.1")
    assert value_at(history, datetime(2026, 5, 31, tzinfo=UTC), default) == default
    assert value_at(history, datetime(2026, 6, 1, tzinfo=UTC), default) == Decimal("0.2")
    assert value_at(history, datetime(2027, 1, 1, tzinfo=UTC), default) == Decimal("0.05")


def test_a_value_is_shown_plain() -> None:
    assert str(plain(Decimal("0.200000"))) == "0.2"
    assert str(plain(Decimal("1E+1"))) == "10"
