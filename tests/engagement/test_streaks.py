"""Streak arithmetic and reward schedules: pure, no database."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.engagement.streaks import (
    DEMO_SCHEDULES,
    DayReward,
    current_streak,
    parse_schedule,
    streak_on,
)
from app.errors import DomainError, ErrorCode

DAILY = parse_schedule("daily", *DEMO_SCHEDULES["daily"])
CALENDAR = parse_schedule("calendar", *DEMO_SCHEDULES["calendar"])


def test_simple_schedule_pays_five_a_day_and_twenty_five_on_day_seven_then_cycles() -> None:
    paid = [DAILY.reward_for(n).points for n in range(1, 16)]
    assert paid == [5, 5, 5, 5, 5, 5, 25, 5, 5, 5, 5, 5, 5, 25, 5]


def test_calendar_schedule_day_three_gift_day_seven_draw() -> None:
    assert CALENDAR.reward_for(1) == DayReward(5)
    assert CALENDAR.reward_for(2) == DayReward(5)
    assert CALENDAR.reward_for(3) == DayReward(10, ("small gift",))
    assert CALENDAR.reward_for(7) == DayReward(50, (), 1)
    assert CALENDAR.reward_for(8) == DayReward(5)
    assert CALENDAR.reward_for(10) == DayReward(10, ("small gift",))


def test_streak_continues_on_the_next_day_and_resets_after_a_gap() -> None:
    monday = date(2026, 11, 23)
    assert streak_on(monday, None, 0) == 1
    assert streak_on(monday, monday - timedelta(days=1), 6) == 7
    assert streak_on(monday, monday - timedelta(days=2), 6) == 1


def test_current_streak_is_alive_until_a_day_is_missed() -> None:
    today = date(2026, 11, 23)
    assert current_streak(today, today, 3) == 3
    assert current_streak(today, today - timedelta(days=1), 3) == 3
    assert current_streak(today, today - timedelta(days=2), 3) == 0
    assert current_streak(today, None, 0) == 0


@given(st.integers(min_value=1, max_value=10_000))
def test_any_streak_day_pays_like_its_cycle_position(streak: int) -> None:
    assert DAILY.reward_for(streak) == DAILY.reward_for((streak - 1) % 7 + 1)
    assert DAILY.reward_for(streak).points in (5, 25)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"base_points": 5}, "cycleDays"),
        ({"base_points": -1, "cycle_days": 7}, "basePoints"),
        ({"base_points": 5, "cycle_days": 7, "days": [{"day": 8, "points": 1}]}, "days"),
        ({"base_points": 5, "cycle_days": 7, "days": [{"day": 2}, {"day": 2}]}, "days"),
        (
            {"base_points": 5, "cycle_days": 7, "days": [{"day": 2, "lottery_draws": 99}]},
            "lotteryDraws",
        ),
        ({"base_points": 5, "cycle_days": 7, "days": [{"day": 2, "gifts": [""]}]}, "gifts"),
        ({"base_points": 5, "cycle_days": 0}, "cycleDays"),
    ],
)
def test_bad_schedules_are_refused_with_the_field(spec: dict[str, object], field: str) -> None:
    with pytest.raises(DomainError) as refused:
        parse_schedule("x", "x", spec)
    assert refused.value.code is ErrorCode.INVALID_INPUT
    assert refused.value.field == field
