"""Sign-in streaks and reward schedules: pure rules, no I/O (tested without a database).

A streak counts consecutive business days signed in; a missed day resets it to 1 on the next
sign-in. A schedule says what day N of a streak pays. Schedules cycle: with ``cycle_days = 7``
day 8 pays like day 1, day 14 like day 7; the streak itself keeps counting (8, 9, …).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from app.errors import invalid

MAX_POINTS_A_DAY = 10_000
MAX_CYCLE_DAYS = 366
MAX_GIFTS = 5
MAX_GIFT_NAME = 100
MAX_DRAWS = 10


@dataclass(frozen=True)
class DayReward:
    """What one sign-in gives: points, gifts (names), lottery draws."""

    points: int
    gifts: tuple[str, ...] = ()
    lottery_draws: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "points": self.points,
            "gifts": list(self.gifts),
            "lottery_draws": self.lottery_draws,
        }


@dataclass(frozen=True)
class ScheduleDay:
    """An override for one position of the cycle: ``points`` replaces the base, ``bonus`` adds
    to it (the simple demo's "+20 on day 7")."""

    day: int
    points: int | None = None
    bonus: int = 0
    gifts: tuple[str, ...] = ()
    lottery_draws: int = 0


@dataclass(frozen=True)
class Schedule:
    code: str
    name: str
    base_points: int
    cycle_days: int
    days: Mapping[int, ScheduleDay] = field(default_factory=dict)

    def position(self, streak: int) -> int:
        """The cycle position (1..cycle_days) that streak day ``streak`` pays as."""
        return (streak - 1) % self.cycle_days + 1

    def reward_for(self, streak: int) -> DayReward:
        if streak < 1:
            raise ValueError("a streak starts at 1")
        override = self.days.get(self.position(streak))
        if override is None:
            return DayReward(self.base_points)
        points = self.base_points if override.points is None else override.points
        return DayReward(points + override.bonus, override.gifts, override.lottery_draws)

    def as_spec(self) -> dict[str, Any]:
        return {
            "base_points": self.base_points,
            "cycle_days": self.cycle_days,
            "days": [
                {
                    "day": d.day,
                    "points": d.points,
                    "bonus": d.bonus,
                    "gifts": list(d.gifts),
                    "lottery_draws": d.lottery_draws,
                }
                for d in sorted(self.days.values(), key=lambda d: d.day)
            ],
        }


def _points(value: Any, field_name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_POINTS_A_DAY:
        raise invalid(
            f"{field_name} must be a whole number from 0 to {MAX_POINTS_A_DAY}", field_name
        )
    return value


def _gifts(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or len(raw) > MAX_GIFTS:
        raise invalid(f"at most {MAX_GIFTS} gifts a day", "gifts")
    gifts = []
    for gift in raw:
        if not isinstance(gift, str) or not gift.strip() or len(gift) > MAX_GIFT_NAME:
            raise invalid(f"a gift is a name of 1..{MAX_GIFT_NAME} characters", "gifts")
        gifts.append(gift.strip())
    return tuple(gifts)


def _day(raw: Mapping[str, Any], cycle_days: int) -> ScheduleDay:
    day = raw.get("day")
    if not isinstance(day, int) or not 1 <= day <= cycle_days:
        raise invalid(f"a schedule day must be from 1 to the cycle's {cycle_days}", "days")
    points = raw.get("points")
    draws = raw.get("lottery_draws", 0)
    if not isinstance(draws, int) or not 0 <= draws <= MAX_DRAWS:
        raise invalid(f"lottery draws must be from 0 to {MAX_DRAWS}", "lotteryDraws")
    return ScheduleDay(
        day=day,
        points=None if points is None else _points(points, "points"),
        bonus=_points(raw.get("bonus", 0), "bonus"),
        gifts=_gifts(raw.get("gifts", [])),
        lottery_draws=draws,
    )


def parse_schedule(code: str, name: str, spec: Mapping[str, Any]) -> Schedule:
    """A schedule from its stored or submitted spec; INVALID_INPUT (with the field) when wrong."""
    if not code.strip() or len(code) > 32:
        raise invalid("code must be 1..32 characters", "code")
    if not name.strip() or len(name) > 200:
        raise invalid("name must be 1..200 characters", "name")
    cycle = spec.get("cycle_days")
    if not isinstance(cycle, int) or not 1 <= cycle <= MAX_CYCLE_DAYS:
        raise invalid(f"cycleDays must be from 1 to {MAX_CYCLE_DAYS}", "cycleDays")
    days: dict[int, ScheduleDay] = {}
    for raw in spec.get("days", []):
        day = _day(raw, cycle)
        if day.day in days:
            raise invalid(f"day {day.day} is given twice", "days")
        days[day.day] = day
    return Schedule(code, name, _points(spec.get("base_points"), "basePoints"), cycle, days)


def streak_on(day: date, last_day: date | None, last_streak: int) -> int:
    """The streak a sign-in on ``day`` makes, after the last sign-in before it."""
    if last_day is not None and last_day == day - timedelta(days=1):
        return last_streak + 1
    return 1


def current_streak(today: date, last_day: date | None, last_streak: int) -> int:
    """The streak as the member sees it today: still alive when the last sign-in was today or
    yesterday (today may still continue it), 0 once a day was missed."""
    if last_day is not None and today - last_day <= timedelta(days=1):
        return last_streak
    return 0


# The demo programme (FEATURES.md §5, seed [003]): both schedules; the simple one is active.
DEMO_SCHEDULES: dict[str, tuple[str, dict[str, Any]]] = {
    "daily": (
        "5 a day, +20 on the 7th consecutive day",
        {"base_points": 5, "cycle_days": 7, "days": [{"day": 7, "bonus": 20}]},
    ),
    "calendar": (
        "Streak calendar: day 1 5, day 3 10 + a small gift, day 7 50 + a lottery draw",
        {
            "base_points": 5,
            "cycle_days": 7,
            "days": [
                {"day": 1, "points": 5},
                {"day": 3, "points": 10, "gifts": ["small gift"]},
                {"day": 7, "points": 50, "lottery_draws": 1},
            ],
        },
    ),
}
DEMO_ACTIVE_SCHEDULE = "daily"
