"""Step 1 of the arithmetic (app/earning/engine.py): which rules apply, and to which lines.

Rule-level conditions (channel, weekday, day of month, date window, tier, first purchase,
birthday) are checked once; line-level ones (category, SKU, category new to the member) select
the lines a rule works on. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from app.earning.rules import Conditions, Line, MemberFacts, Rule, Skipped, Trigger


@dataclass
class Candidate:
    """An applicable rule, with the indexes of its eligible lines and (for ``highest`` rules)
    what it is worth on its own."""

    rule: Rule
    lines: list[int]
    standalone: Decimal = Decimal(0)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def is_birthday(birthday: date | None, day: date) -> bool:
    """A 29 February birthday falls on 28 February in other years."""
    if birthday is None:
        return False
    if birthday.month == 2 and birthday.day == 29 and not _leap(day.year):
        return (day.month, day.day) == (2, 28)
    return (day.month, day.day) == (birthday.month, birthday.day)


def _calendar_unmet(c: Conditions, day: date) -> str | None:
    if c.weekdays is not None and day.isoweekday() not in c.weekdays:
        return "weekday"
    if c.days_of_month is not None and day.day not in c.days_of_month:
        return "day of month"
    if c.date_from is not None and day < c.date_from:
        return "before the date window"
    if c.date_to is not None and day > c.date_to:
        return "after the date window"
    return None


def _member_unmet(c: Conditions, day: date, member: MemberFacts) -> str | None:
    if c.tiers is not None and member.tier not in c.tiers:
        return "tier"
    if c.segments is not None and member.segment not in c.segments:
        return "segment"
    if c.first_purchase is not None and c.first_purchase != member.first_purchase:
        return "first purchase"
    if c.birthday is not None and c.birthday != is_birthday(member.birthday, day):
        return "birthday"
    return None


def rule_level_unmet(rule: Rule, channel: str, day: date, member: MemberFacts) -> str | None:
    """None when the rule-level conditions hold, else the first that does not."""
    c = rule.conditions
    if c.channels is not None and channel not in c.channels:
        return "channel"
    return _calendar_unmet(c, day) or _member_unmet(c, day, member)


def line_matches(c: Conditions, line: Line, member: MemberFacts) -> bool:
    if c.categories is not None and line.category not in c.categories:
        return False
    if c.skus is not None and line.sku not in c.skus:
        return False
    return c.new_category is None or c.new_category == (
        line.category not in member.known_categories
    )


def _lines_unmet(rule: Rule, lines: Sequence[Line], eligible: list[int]) -> str | None:
    """Why the rule's eligible lines do not qualify it (none, or below its minimum amount)."""
    if not eligible:
        return "no matching line"
    minimum = rule.conditions.min_amount
    if minimum is not None and sum((lines[i].amount for i in eligible), Decimal(0)) < minimum:
        return "below the minimum amount"
    return None


def applicable(
    rules: Sequence[Rule],
    trigger: Trigger,
    event: str | None,
    channel: str,
    lines: Sequence[Line],
    day: date,
    member: MemberFacts,
    skipped: list[Skipped],
) -> list[Candidate]:
    """The rules whose trigger and conditions hold, by priority (higher first, then by id),
    with their eligible lines; the others go to ``skipped`` with the reason."""
    candidates: list[Candidate] = []
    for rule in sorted(rules, key=lambda r: (-r.priority, r.id)):
        if rule.trigger is not trigger or rule.event != event:
            continue
        eligible: list[int] = []
        why = rule_level_unmet(rule, channel, day, member)
        if why is None:
            eligible = [
                i for i, line in enumerate(lines) if line_matches(rule.conditions, line, member)
            ]
            why = _lines_unmet(rule, lines, eligible)
        if why is not None:
            skipped.append(Skipped(rule.id, rule.name, f"condition not met: {why}"))
            continue
        candidates.append(Candidate(rule, eligible))
    return candidates
