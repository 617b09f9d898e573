"""The keys of the counters caps are measured on: a rule's use per period, the member's daily
total. Pure; the store reads and adds to the counters under these keys."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from app.earning.rules import CapPeriod, Rule


def period_key(period: CapPeriod, day: date) -> str:
    if period is CapPeriod.DAY:
        return f"d:{day.isoformat()}"
    if period is CapPeriod.WEEK:
        iso = day.isocalendar()
        return f"w:{iso.year}-W{iso.week:02d}"
    if period is CapPeriod.MONTH:
        return f"m:{day.year}-{day.month:02d}"
    return "life"


def rule_counter(rule_id: int, period: CapPeriod, day: date) -> str:
    return f"rule:{rule_id}:{period_key(period, day)}"


def ceiling_counter(day: date) -> str:
    return f"all:{period_key(CapPeriod.DAY, day)}"


def counter_keys(rules: Iterable[Rule], day: date) -> list[str]:
    """Every counter the engine may read for these rules on this business day."""
    keys = [ceiling_counter(day)]
    for rule in rules:
        keys += [rule_counter(rule.id, period, day) for period, _ in rule.caps.items()]
    return keys
