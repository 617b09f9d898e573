"""The earning rule engine: pure functions, no I/O (the use cases read what they need and write).

Rules are data (app/earning/rules.py; stored as a JSON *spec*, parsed in app/earning/specs.py);
:func:`evaluate` takes the rules, what happened (a basket of lines, or a behaviour event), what
we know of the member, the moment
(the clock's value, passed in) and how much of each cap is used already, and returns the points
with a breakdown: which rule gave how much, which cap cut what. docs/EARNING.md explains the
arithmetic with examples; the tests in tests/earning/ check every sentence of it.

The arithmetic, in order:

1. **Applicable rules.** A rule applies when its trigger matches and its conditions hold.
   Rule-level conditions (channel, weekday, day of month, date window, tier, first purchase,
   birthday) are checked once; line-level ones (category, SKU, category new to the member)
   select the lines the rule works on, and a rule with no eligible line does not apply. A
   minimum amount is checked against the eligible lines' total.
2. **Exclusive rules.** Rules are ordered by priority (higher first, then by id). An applicable
   ``exclusive`` rule stops every rule of lower priority; rules of the same or higher priority
   still apply.
3. **Highest wins.** Among applicable ``highest`` rules of the same effect kind, only the one worth
   the most points on its own applies (ties: higher priority, then lower id).
4. **Per line**: base = Σ per-unit rules' rate x the line's amount; then the member's tier
   multiplier and the ``multiply`` multipliers multiply the base, the ``add`` multipliers add
   (factor - 1) x base each, and percentage bonuses add percent x base each:
   ``line = base x (tier x Π f_multiply + Σ (f_add - 1) + Σ p/100)``. Fixed points are per order
   (per event) and never multiplied. The tier multiplier applies to purchases only.
5. **Rounding**: each rule's share (summed over the lines) is rounded *down* to a whole point;
   the total is the sum of the shares, so the breakdown always adds up.
6. **Caps**: a rule's share is cut to what its per-member caps (day / week / month / lifetime, in
   the programme's business days) and its campaign budget leave; then the member's daily ceiling
   on all earning cuts the total, taken from the last shares first.

Each step has its module: ``conditions`` (1), ``combination`` (2, 3), ``rewards`` (4), ``caps``
(5, 6); ``counters`` names what caps are measured on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from app.earning.caps import capped_share, consumed, under_ceiling
from app.earning.combination import highest_wins, not_excluded, standalone
from app.earning.conditions import applicable
from app.earning.counters import ceiling_counter
from app.earning.rewards import RawShare, base_points, shares
from app.earning.rules import (
    EffectKind,
    Line,
    MemberFacts,
    Occurrence,
    Outcome,
    Purchase,
    Rule,
    Skipped,
    Trigger,
)
from app.ledger.expiry import ExpiryPolicy, kindest


def local_day(at: datetime, tz: str) -> date:
    return at.astimezone(ZoneInfo(tz)).date()


def evaluate(
    rules: Sequence[Rule],
    happened: Purchase | Occurrence,
    member: MemberFacts,
    *,
    at: datetime,
    tz: str,
    used: Mapping[str, int] | None = None,
    budgets_left: Mapping[int, int] | None = None,
    daily_ceiling: int | None = None,
) -> Outcome:
    """The points ``happened`` earns at ``at`` under ``rules`` (see the module's docstring)."""
    day = local_day(at, tz)
    if isinstance(happened, Purchase):
        lines = happened.lines
        trigger, event = Trigger.PURCHASE, None
    else:
        lines = (Line("", "", 1, happened.quantity),)
        trigger, event = Trigger.EVENT, happened.name
    skipped: list[Skipped] = []
    candidates = applicable(rules, trigger, event, happened.channel, lines, day, member, skipped)
    kept = not_excluded(candidates, skipped)
    kept = highest_wins(kept, EffectKind.PER_UNIT, lambda c: standalone(c, lines, None), skipped)
    base = base_points(kept, lines)
    for kind in (EffectKind.MULTIPLIER, EffectKind.PERCENT_BONUS, EffectKind.FIXED):
        kept = highest_wins(kept, kind, lambda c: standalone(c, lines, base), skipped)
    tier_factor = member.tier_multiplier if trigger is Trigger.PURCHASE else Decimal(1)
    raw, line_points, order_points = shares(kept, lines, base, tier_factor, member.tier)
    outcome = Outcome(
        points=0,
        shares=(),
        skipped=tuple(skipped),
        line_points=tuple(line_points),
        order_points=order_points,
        business_day=day,
        counters={},
        budgets={},
    )
    return _capped(outcome, raw, used or {}, budgets_left or {}, daily_ceiling)


def _capped(
    outcome: Outcome,
    raw: list[RawShare],
    used: Mapping[str, int],
    budgets_left: Mapping[int, int],
    daily_ceiling: int | None,
) -> Outcome:
    """The outcome with its shares rounded and capped, and what they consume."""
    day = outcome.business_day
    given = [capped_share(r, day, used, budgets_left) for r in raw]
    if daily_ceiling is not None:
        given = under_ceiling(given, max(daily_ceiling - used.get(ceiling_counter(day), 0), 0))
    total = sum(s.points for s in given)
    counters, budgets = consumed(given, [rule for rule, *_ in raw], day)
    if total and daily_ceiling is not None:
        counters[ceiling_counter(day)] = total
    return replace(outcome, points=total, shares=tuple(given), counters=counters, budgets=budgets)


def expiry_override(
    rules: Sequence[Rule], outcome: Outcome, programme: ExpiryPolicy, earned_at: datetime, tz: str
) -> ExpiryPolicy | None:
    """The expiry policy of a credit whose rules bring their own (None: the programme's).

    Each rule that gave points votes with its policy (the programme's when it has none; the tier
    multiplier votes with the programme's) and the member gets the kindest of them."""
    giving = {share.rule_id for share in outcome.shares if share.points > 0}
    if not any(rule.expiry is not None for rule in rules if rule.id in giving):
        return None
    votes = [rule.expiry or programme for rule in rules if rule.id in giving]
    if None in giving:
        votes.append(programme)
    return kindest(votes, earned_at, tz)
