"""The pure rule engine: the seeds' examples, stacking, caps, rounding, and properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.earning.counters import ceiling_counter, rule_counter
from app.earning.engine import evaluate, local_day
from app.earning.refunds import clawback_target
from app.earning.rules import CapPeriod, Line, MemberFacts, Occurrence, Purchase, Rule
from app.earning.specs import money, parse_rule, rule_spec
from app.errors import DomainError

TZ = "Asia/Shanghai"
# 2026-11-23 is a Monday; 2026-11-25 a Wednesday (Shanghai time).
MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
WEDNESDAY = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)

BASE = {"name": "base", "trigger": "purchase", "effect": {"kind": "per_unit", "rate": "1"}}
FIRST = {
    "name": "first purchase +50",
    "trigger": "purchase",
    "conditions": {"first_purchase": True},
    "effect": {"kind": "fixed", "points": 50},
}


def wednesday(stacking: str) -> dict[str, object]:
    return {
        "name": "Wednesday member day x2",
        "trigger": "purchase",
        "conditions": {"weekdays": [3]},
        "effect": {"kind": "multiplier", "factor": "2", "stacking": stacking},
    }


SHARE = {
    "name": "share",
    "trigger": "event",
    "event": "share",
    "effect": {"kind": "fixed", "points": 10},
    "caps": {"day": 30},
}


def rules(*specs: dict[str, object]) -> list[Rule]:
    return [parse_rule(i + 1, spec) for i, spec in enumerate(specs)]


def basket(*amounts: str, category: str = "grocery") -> Purchase:
    return Purchase(
        "pos", tuple(Line(f"sku-{i}", category, 1, Decimal(a)) for i, a in enumerate(amounts))
    )


SILVER = MemberFacts(tier="silver", tier_multiplier=Decimal("1.2"))


def test_first_purchase_of_100_gives_150() -> None:
    outcome = evaluate(
        rules(BASE, FIRST), basket("100"), MemberFacts(first_purchase=True), at=MONDAY, tz=TZ
    )
    assert outcome.points == 150
    assert [(s.name, s.points) for s in outcome.shares] == [
        ("base", 100),
        ("first purchase +50", 50),
    ]


def test_silver_member_on_a_weekday_gets_120() -> None:
    outcome = evaluate(rules(BASE, wednesday("multiply")), basket("100"), SILVER, at=MONDAY, tz=TZ)
    assert outcome.points == 120
    assert [s.kind for s in outcome.shares] == ["per_unit", "tier"]
    assert outcome.skipped[0].reason == "condition not met: weekday"


def test_member_day_multiplies_to_240_or_adds_to_220() -> None:
    multiplied = evaluate(
        rules(BASE, wednesday("multiply")), basket("100"), SILVER, at=WEDNESDAY, tz=TZ
    )
    assert multiplied.points == 240
    assert [s.points for s in multiplied.shares] == [100, 20, 120]
    added = evaluate(rules(BASE, wednesday("add")), basket("100"), SILVER, at=WEDNESDAY, tz=TZ)
    assert added.points == 220
    assert [s.points for s in added.shares] == [100, 20, 100]


def test_sharing_four_times_a_day_gives_30() -> None:
    used: dict[str, int] = {}
    total = 0
    for _ in range(4):
        outcome = evaluate(
            rules(SHARE), Occurrence("app", "share"), MemberFacts(), at=MONDAY, tz=TZ, used=used
        )
        total += outcome.points
        for key, points in outcome.counters.items():
            used[key] = used.get(key, 0) + points
    assert total == 30
    assert outcome.points == 0
    assert outcome.shares[0].cuts[0].cap == "day"


def test_day_boundaries_are_shanghai_days() -> None:
    before = datetime(2026, 11, 24, 15, 59, tzinfo=UTC)  # Tue 23:59 Shanghai
    after = before + timedelta(minutes=2)  # Wed 00:01 Shanghai
    assert local_day(before, TZ) == date(2026, 11, 24)
    assert local_day(after, TZ) == date(2026, 11, 25)
    r = rules(BASE, wednesday("multiply"))
    assert evaluate(r, basket("100"), MemberFacts(), at=before, tz=TZ).points == 100
    assert evaluate(r, basket("100"), MemberFacts(), at=after, tz=TZ).points == 200
    share = rules(SHARE)
    day1 = {rule_counter(1, CapPeriod.DAY, date(2026, 11, 24)): 30}
    assert (
        evaluate(
            share, Occurrence("app", "share"), MemberFacts(), at=before, tz=TZ, used=day1
        ).points
        == 0
    )
    assert (
        evaluate(
            share, Occurrence("app", "share"), MemberFacts(), at=after, tz=TZ, used=day1
        ).points
        == 10
    )


def test_category_conditions_work_per_line() -> None:
    fresh = {
        "name": "fresh +50%",
        "trigger": "purchase",
        "conditions": {"categories": ["fresh"]},
        "effect": {"kind": "percent_bonus", "percent": "50"},
    }
    purchase = Purchase(
        "pos", (Line("a", "fresh", 1, Decimal("40")), Line("b", "wine", 1, Decimal("60")))
    )
    outcome = evaluate(rules(BASE, fresh), purchase, MemberFacts(), at=MONDAY, tz=TZ)
    assert outcome.points == 120
    assert outcome.line_points == (Decimal("60.0"), Decimal("60"))


def test_new_category_bonus_only_on_new_categories() -> None:
    new = {
        "name": "new category +30%",
        "trigger": "purchase",
        "conditions": {"new_category": True},
        "effect": {"kind": "percent_bonus", "percent": "30"},
    }
    purchase = Purchase(
        "pos", (Line("a", "fresh", 1, Decimal("100")), Line("b", "wine", 1, Decimal("100")))
    )
    member = MemberFacts(known_categories=frozenset({"fresh"}))
    assert evaluate(rules(BASE, new), purchase, member, at=MONDAY, tz=TZ).points == 230


def test_highest_wins_keeps_the_best_time_window() -> None:
    weekend = {
        "name": "weekend x1.5",
        "trigger": "purchase",
        "conditions": {"weekdays": [6, 7]},
        "effect": {"kind": "multiplier", "factor": "1.5"},
        "combination": "highest",
    }
    eighth = {
        "name": "the 8th x2",
        "trigger": "purchase",
        "conditions": {"days_of_month": [8]},
        "effect": {"kind": "multiplier", "factor": "2"},
        "combination": "highest",
    }
    sunday_8th = datetime(2026, 11, 8, 4, 0, tzinfo=UTC)
    outcome = evaluate(
        rules(BASE, weekend, eighth), basket("100"), MemberFacts(), at=sunday_8th, tz=TZ
    )
    assert outcome.points == 200
    assert [s.reason for s in outcome.skipped] == ["rule 3 is worth more"]


def test_exclusive_rule_stops_lower_priority_rules() -> None:
    promo = {
        "name": "618 week: x3, nothing else",
        "trigger": "purchase",
        "effect": {"kind": "multiplier", "factor": "3"},
        "combination": "exclusive",
        "priority": 10,
    }
    base = {**BASE, "priority": 20}
    r = rules(base, promo, FIRST)
    outcome = evaluate(r, basket("100"), MemberFacts(first_purchase=True), at=MONDAY, tz=TZ)
    assert outcome.points == 300
    assert outcome.skipped[0].reason == "excluded by rule 2"


def test_rounding_is_down_per_rule_and_the_breakdown_adds_up() -> None:
    outcome = evaluate(rules(BASE), basket("99.99", "0.50"), SILVER, at=MONDAY, tz=TZ)
    # base 100.49 -> 100; tier 20.098 -> 20
    assert [s.points for s in outcome.shares] == [100, 20]
    assert outcome.points == 120


def test_budget_and_daily_ceiling() -> None:
    bonus = {**FIRST, "budget": 1000}
    r = rules(BASE, bonus)
    member = MemberFacts(first_purchase=True)
    outcome = evaluate(r, basket("100"), member, at=MONDAY, tz=TZ, budgets_left={2: 20})
    assert outcome.points == 120
    assert outcome.shares[1].cuts[0].cap == "budget"
    assert outcome.budgets == {2: 20}
    day = local_day(MONDAY, TZ)
    capped = evaluate(
        r,
        basket("100"),
        member,
        at=MONDAY,
        tz=TZ,
        daily_ceiling=500,
        used={ceiling_counter(day): 420},
    )
    assert capped.points == 80
    assert capped.shares[1].points == 0
    assert capped.shares[0].points == 80
    assert capped.counters[ceiling_counter(day)] == 80


def test_running_track_calories() -> None:
    calories = {
        "name": "running track: 1 point per 10 kcal",
        "trigger": "event",
        "event": "running_calories",
        "effect": {"kind": "per_unit", "rate": "0.1"},
        "caps": {"day": 50},
    }
    outcome = evaluate(
        rules(calories),
        Occurrence("mall", "running_calories", Decimal("356")),
        SILVER,
        at=MONDAY,
        tz=TZ,
    )
    assert outcome.points == 35  # the tier multiplier is for purchases only


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({**BASE, "colour": "red"}, "unknown rule field"),
        ({**BASE, "conditions": {"weekday": [3]}}, "unknown conditions field"),
        ({**BASE, "effect": {"kind": "per_unit", "rate": "-1"}}, "must not be negative"),
        ({**BASE, "effect": {"kind": "per_unit", "rate": "0"}}, "above 0"),
        ({**BASE, "effect": {"kind": "multiplier", "factor": "0.5"}}, "above 1"),
        ({**BASE, "effect": {"kind": "fixed", "points": -5}}, "between 1"),
        ({**BASE, "effect": {"kind": "per_unit", "rate": "1", "points": 3}}, "takes only rate"),
        ({**BASE, "effect": {"kind": "per_unit"}}, "needs effect.rate"),
        (
            {**BASE, "effect": {"kind": "per_unit", "rate": "1", "stacking": "add"}},
            "multipliers only",
        ),
        (
            {**BASE, "conditions": {"date_from": "2026-06-20", "date_to": "2026-06-18"}},
            "ends before",
        ),
        ({**BASE, "conditions": {"weekdays": [8]}}, "between 1 and 7"),
        ({**BASE, "conditions": {"min_amount": "10.001"}}, "more than two decimals"),
        ({**BASE, "conditions": {"categories": []}}, "non-empty"),
        ({**SHARE, "conditions": {"categories": ["x"]}}, "cannot have purchase conditions"),
        ({**BASE, "event": "share"}, "takes no event name"),
        ({**SHARE, "event": None}, "needs an event name"),
        ({**SHARE, "caps": {"day": 40, "week": 30}}, "could never bind"),
        ({**BASE, "trigger": "sunrise"}, "trigger must be one of"),
    ],
)
def test_bad_rules_are_refused_with_a_clear_message(spec: dict[str, object], message: str) -> None:
    with pytest.raises(DomainError) as refused:
        parse_rule(1, spec)
    assert message in refused.value.message
    assert refused.value.code == "INVALID_INPUT"


def test_money_has_at_most_two_decimals() -> None:
    assert money("10.5", "amount") == Decimal("10.50")
    for bad in ("10.001", "-1", "NaN", "abc", "1e12"):
        with pytest.raises(DomainError):
            money(bad, "amount")


def test_spec_round_trips() -> None:
    for spec in (BASE, FIRST, SHARE, wednesday("add")):
        rule = parse_rule(7, spec)
        assert parse_rule(7, rule_spec(rule)) == rule


def test_clawback_of_half_an_order_is_exactly_its_lines() -> None:
    fresh = {
        "name": "fresh +50%",
        "trigger": "purchase",
        "conditions": {"categories": ["fresh"]},
        "effect": {"kind": "percent_bonus", "percent": "50"},
    }
    purchase = Purchase(
        "pos", (Line("a", "fresh", 1, Decimal("100")), Line("b", "wine", 1, Decimal("100")))
    )
    o = evaluate(rules(BASE, fresh), purchase, MemberFacts(), at=MONDAY, tz=TZ)
    assert o.points == 250
    amounts = [Decimal(100), Decimal(100)]
    assert (
        clawback_target(
            o.points, o.line_points, o.order_points, amounts, [Decimal(100), Decimal(0)]
        )
        == 150
    )
    assert (
        clawback_target(
            o.points, o.line_points, o.order_points, amounts, [Decimal(0), Decimal(100)]
        )
        == 100
    )
    assert clawback_target(o.points, o.line_points, o.order_points, amounts, amounts) == 250


# ---------------------------------------------------------------------------------- properties

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000"), places=2)
categories = st.sampled_from(["fresh", "wine", "grocery", "toys"])
lines_strategy = st.lists(
    st.builds(Line, st.sampled_from(["a", "b", "c"]), categories, st.integers(1, 5), amounts),
    min_size=1,
    max_size=8,
)
rule_specs = st.sampled_from(
    [
        BASE,
        FIRST,
        wednesday("multiply"),
        wednesday("add"),
        {
            **BASE,
            "name": "app x2 base",
            "conditions": {"channels": ["app"]},
            "combination": "highest",
        },
        {
            "name": "fresh +50%",
            "trigger": "purchase",
            "conditions": {"categories": ["fresh"]},
            "effect": {"kind": "percent_bonus", "percent": "50"},
            "caps": {"day": 200},
        },
        {
            "name": "big order +100",
            "trigger": "purchase",
            "conditions": {"min_amount": "500"},
            "effect": {"kind": "fixed", "points": 100},
            "caps": {"month": 150},
        },
        {
            "name": "weekend x1.5",
            "trigger": "purchase",
            "conditions": {"weekdays": [6, 7]},
            "effect": {"kind": "multiplier", "factor": "1.5"},
            "combination": "highest",
        },
    ]
)
moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(rule_specs, min_size=1, max_size=6, unique_by=lambda s: str(s)),
    lines_strategy,
    moments,
    st.randoms(use_true_random=False),
    st.integers(0, 400),
    st.booleans(),
)
def test_properties(specs, lines, at, rnd, used_today, first) -> None:
    r = [parse_rule(i + 1, s) for i, s in enumerate(specs)]
    day = local_day(at, TZ)
    used = {ceiling_counter(day): used_today}
    for rule in r:
        for period, _ in rule.caps.items():
            used[rule_counter(rule.id, period, day)] = used_today // 2
    member = MemberFacts(tier="silver", tier_multiplier=Decimal("1.2"), first_purchase=first)
    purchase = Purchase("pos", tuple(lines))
    outcome = evaluate(r, purchase, member, at=at, tz=TZ, used=used, daily_ceiling=500)
    # Never negative; the breakdown adds up; caps respected.
    assert outcome.points >= 0
    assert all(s.points >= 0 for s in outcome.shares)
    assert outcome.points == sum(s.points for s in outcome.shares)
    assert outcome.points <= 500 - used_today or outcome.points == 0
    for rule in r:
        given_by_rule = sum(s.points for s in outcome.shares if s.rule_id == rule.id)
        for period, cap in rule.caps.items():
            assert given_by_rule <= max(cap - used[rule_counter(rule.id, period, day)], 0)
    # Order-independence: shuffling the rules or the lines changes nothing.
    shuffled_rules = list(r)
    rnd.shuffle(shuffled_rules)
    shuffled_lines = list(lines)
    rnd.shuffle(shuffled_lines)
    again = evaluate(
        shuffled_rules,
        Purchase("pos", tuple(shuffled_lines)),
        member,
        at=at,
        tz=TZ,
        used=used,
        daily_ceiling=500,
    )
    assert again.points == outcome.points
    assert again.shares == outcome.shares
    # A full refund claws back everything, a partial one never more.
    line_amounts = [line.amount for line in lines]
    full = clawback_target(
        outcome.points, outcome.line_points, outcome.order_points, line_amounts, line_amounts
    )
    assert full == outcome.points
    half = [a / 2 for a in line_amounts]
    assert (
        0
        <= clawback_target(
            outcome.points, outcome.line_points, outcome.order_points, line_amounts, half
        )
        <= outcome.points
    )
