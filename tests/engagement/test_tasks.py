"""Task definitions and progress arithmetic: pure, no database."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.engagement.demo import DEMO_TASKS
from app.engagement.tasks import Occurrence, Progress, Task, TaskTrigger, advance, parse_task
from app.errors import DomainError, ErrorCode

MONDAY = date(2026, 11, 23)


def task(code: str) -> Task:
    return parse_task(1, code, DEMO_TASKS[code])


def feed(t: Task, occurrences: list[Occurrence]) -> tuple[Progress, list[int]]:
    state, done = Progress(), []
    for occurrence in occurrences:
        state, completed = advance(t, state, occurrence)
        done.append(completed)
    return state, done


def test_every_demo_task_parses() -> None:
    for code, spec in DEMO_TASKS.items():
        assert parse_task(1, code, spec).code == code


def test_share_completes_at_most_three_times_a_day() -> None:
    share = task("share-daily")
    shares = [Occurrence(TaskTrigger.EVENT, MONDAY, event="share")] * 4
    state, done = feed(share, shares)
    assert done == [1, 1, 1, 0]
    assert state.completions == 3
    assert share.period_of(MONDAY) == "2026-11-23"


def test_buying_on_three_consecutive_days_completes_and_a_gap_restarts() -> None:
    challenge = task("buy-3-days")
    days = [MONDAY, MONDAY + timedelta(days=1), MONDAY + timedelta(days=3)]
    days += [MONDAY + timedelta(days=4), MONDAY + timedelta(days=5)]
    buys = [Occurrence(TaskTrigger.PURCHASE, d, amount=Decimal(10)) for d in days]
    state, done = feed(challenge, buys)
    assert done == [0, 0, 0, 0, 1]
    assert state.completions == 1
    # Two purchases on one day count once.
    same_day = [Occurrence(TaskTrigger.PURCHASE, MONDAY)] * 3
    assert feed(challenge, same_day)[0].progress == 1


def test_points_challenge_accumulates_and_categories_count_distinct() -> None:
    monthly = task("monthly-points")
    earned = [Occurrence(TaskTrigger.POINTS, MONDAY, points=p) for p in (400, 500, 200)]
    state, done = feed(monthly, earned)
    assert (state.progress, done) == (Decimal(1100), [0, 0, 1])
    explorer = task("new-product-explorer")
    baskets = [frozenset({"a", "b"}), frozenset({"a"}), frozenset({"c", "b"})]
    state, done = feed(
        explorer, [Occurrence(TaskTrigger.PURCHASE, MONDAY, categories=b) for b in baskets]
    )
    assert (state.seen, done) == (("a", "b", "c"), [0, 0, 1])


@given(st.lists(st.integers(min_value=1, max_value=500), max_size=40))
def test_completions_never_exceed_the_cap_nor_the_progress(points: list[int]) -> None:
    monthly = task("monthly-points")
    state, done = feed(monthly, [Occurrence(TaskTrigger.POINTS, MONDAY, points=p) for p in points])
    assert sum(done) == state.completions == min(1, sum(points) // 1000)


BAD: list[tuple[dict[str, Any], str]] = [
    ({"kind": "one_off", "trigger": "event", "reward": {}}, "event"),
    ({"kind": "one_off", "trigger": "purchase", "metric": "points", "reward": {}}, "metric"),
    ({"kind": "one_off", "trigger": "manual", "period": "day", "reward": {}}, "period"),
    ({"kind": "challenge", "trigger": "manual", "period": "window", "reward": {}}, "startsOn"),
    ({"kind": "repeatable", "trigger": "manual", "leaderboard": True, "reward": {}}, "leaderboard"),
    ({"kind": "nope", "trigger": "manual", "reward": {}}, "kind"),
    ({"kind": "one_off", "trigger": "manual", "target": "-1", "reward": {}}, "target"),
    ({"kind": "one_off", "trigger": "manual", "reward": {"points": -5}}, "points"),
    (
        {
            "kind": "challenge",
            "trigger": "manual",
            "period": "window",
            "starts_on": "2026-11-30",
            "ends_on": "2026-11-01",
            "reward": {},
        },
        "endsOn",
    ),
]


@pytest.mark.parametrize(("spec", "field"), BAD)
def test_contradictory_tasks_are_refused_with_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(DomainError) as refused:
        parse_task(1, "t", {"name": "t", **spec})
    assert refused.value.code is ErrorCode.INVALID_INPUT
    assert refused.value.field == field


def test_a_bad_code_is_refused() -> None:
    with pytest.raises(DomainError) as refused:
        parse_task(1, "no spaces", {"name": "t", "kind": "one_off", "trigger": "manual"})
    assert refused.value.field == "code"
