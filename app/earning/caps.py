"""Steps 5 and 6 of the arithmetic (app/earning/engine.py): rounding and caps. Pure.

Each rule's share is rounded down to a whole point and cut to what its per-member caps (day /
week / month / lifetime, in business days) and its campaign budget leave; then the member's
daily ceiling cuts the total, taken from the last shares first. The counters and budgets the
outcome adds to are what was given after every cut.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from decimal import ROUND_FLOOR, Decimal

from app.earning.counters import rule_counter
from app.earning.rewards import RawShare
from app.earning.rules import Cut, Rule, Share


def floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def capped_share(
    raw: RawShare, day: date, used: Mapping[str, int], budgets_left: Mapping[int, int]
) -> Share:
    """One rule's share, rounded down and cut by its caps, then its budget."""
    rule, name, kind, computed = raw
    points = max(floor(computed), 0)
    cuts: list[Cut] = []
    if rule is not None:
        for period, cap in rule.caps.items():
            room = max(cap - used.get(rule_counter(rule.id, period, day), 0), 0)
            if points > room:
                cuts.append(Cut(period.value, points - room))
                points = room
        if rule.budget is not None:
            room = max(budgets_left.get(rule.id, rule.budget), 0)
            if points > room:
                cuts.append(Cut("budget", points - room))
                points = room
    return Share(rule.id if rule else None, name, kind, computed, points, tuple(cuts))


def under_ceiling(shares: list[Share], room: int) -> list[Share]:
    """The shares with what is over ``room`` in all cut, from the last share first."""
    over = sum(s.points for s in shares) - room
    cut_shares = list(shares)
    for i in range(len(cut_shares) - 1, -1, -1):
        if over <= 0:
            break
        share = cut_shares[i]
        cut = min(share.points, over)
        if cut:
            cut_shares[i] = replace(
                share, points=share.points - cut, cuts=(*share.cuts, Cut("daily_ceiling", cut))
            )
            over -= cut
    return cut_shares


def consumed(
    shares: list[Share], rules: list[Rule | None], day: date
) -> tuple[dict[str, int], dict[int, int]]:
    """What the shares given add to their rules' cap counters and budgets."""
    counters: dict[str, int] = {}
    budgets: dict[int, int] = {}
    for share, rule in zip(shares, rules, strict=True):
        if rule is None or share.points == 0:
            continue
        for period, _ in rule.caps.items():
            key = rule_counter(rule.id, period, day)
            counters[key] = counters.get(key, 0) + share.points
        if rule.budget is not None:
            budgets[rule.id] = budgets.get(rule.id, 0) + share.points
    return counters, budgets
