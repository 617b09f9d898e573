"""The earning rules as data, and what they are evaluated on and give: pure, no I/O.

A :class:`Rule` is stored as a JSON *spec* (parsed and validated in app/earning/specs.py); the
engine (app/earning/engine.py) evaluates rules on what happened (a :class:`Purchase` or an
:class:`Occurrence`) and what we know of the member (:class:`MemberFacts`), and returns an
:class:`Outcome`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from app.ledger.expiry import ExpiryPolicy

CENT = Decimal("0.01")
MAX_MONEY = Decimal("100000000")  # 100 million CNY: far above any real order line
MAX_RATE = Decimal("1000")
MAX_FACTOR = Decimal("100")
MAX_PERCENT = Decimal("10000")
MAX_FIXED_POINTS = 10_000_000
MAX_CAP = 1_000_000_000
MAX_NAME = 100
MAX_LIST = 100
MAX_TEXT_ITEM = 64
RATE_PLACES = 4  # rates, factors and percentages: at most 4 decimals


class Trigger(StrEnum):
    PURCHASE = "purchase"
    EVENT = "event"


class EffectKind(StrEnum):
    PER_UNIT = "per_unit"  # points per currency unit (purchase) or per unit of quantity (event)
    FIXED = "fixed"  # a fixed number of points per order / event
    MULTIPLIER = "multiplier"  # multiplies the base points of its lines
    PERCENT_BONUS = "percent_bonus"  # adds a percentage of the base points of its lines


class Combination(StrEnum):
    ADDITIVE = "additive"
    HIGHEST = "highest"  # only the best of its effect kind applies
    EXCLUSIVE = "exclusive"  # when it applies, lower-priority rules do not


class Stacking(StrEnum):
    MULTIPLY = "multiply"  # xf on top of the other multiplying factors
    ADD = "add"  # adds (f - 1) x base


class CapPeriod(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    LIFETIME = "lifetime"


CAP_ORDER = (CapPeriod.DAY, CapPeriod.WEEK, CapPeriod.MONTH, CapPeriod.LIFETIME)


# --------------------------------------------------------------------------------- the rule


@dataclass(frozen=True)
class Conditions:
    channels: tuple[str, ...] | None = None
    categories: tuple[str, ...] | None = None
    skus: tuple[str, ...] | None = None
    min_amount: Decimal | None = None
    weekdays: tuple[int, ...] | None = None  # ISO: 1 = Monday … 7 = Sunday
    days_of_month: tuple[int, ...] | None = None
    date_from: date | None = None  # business-local, inclusive
    date_to: date | None = None  # business-local, inclusive
    tiers: tuple[str, ...] | None = None
    first_purchase: bool | None = None  # True: only a first purchase; False: never the first
    birthday: bool | None = None  # True: only on the member's birthday
    new_category: bool | None = None  # True: only lines of a category the member never bought
    segments: tuple[str, ...] | None = None  # the member's RFM segment (app/segments) is one

    @property
    def line_level(self) -> bool:
        return bool(self.categories or self.skus or self.new_category is not None)


@dataclass(frozen=True)
class Effect:
    kind: EffectKind
    rate: Decimal | None = None  # PER_UNIT
    points: int | None = None  # FIXED
    factor: Decimal | None = None  # MULTIPLIER
    percent: Decimal | None = None  # PERCENT_BONUS
    stacking: Stacking = Stacking.MULTIPLY  # MULTIPLIER only


@dataclass(frozen=True)
class Caps:
    day: int | None = None
    week: int | None = None
    month: int | None = None
    lifetime: int | None = None

    def items(self) -> list[tuple[CapPeriod, int]]:
        values = (self.day, self.week, self.month, self.lifetime)
        return [(p, v) for p, v in zip(CAP_ORDER, values, strict=True) if v is not None]


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    trigger: Trigger
    effect: Effect
    event: str | None = None  # the event name, for Trigger.EVENT
    conditions: Conditions = field(default_factory=Conditions)
    combination: Combination = Combination.ADDITIVE
    priority: int = 0
    caps: Caps = field(default_factory=Caps)
    budget: int | None = None  # campaign budget: points this rule may give in all
    expiry: ExpiryPolicy | None = None  # overrides the programme's expiry policy (its points)


# ------------------------------------------------------------------------------ what happened


@dataclass(frozen=True)
class Line:
    sku: str
    category: str
    quantity: int
    amount: Decimal  # the line's total, in currency units


@dataclass(frozen=True)
class Purchase:
    channel: str
    lines: tuple[Line, ...]

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))


@dataclass(frozen=True)
class Occurrence:
    """A behaviour or custom event: ``quantity`` feeds per-unit rules (e.g. calories run)."""

    channel: str
    name: str
    quantity: Decimal = Decimal(1)


@dataclass(frozen=True)
class MemberFacts:
    tier: str | None = None
    tier_multiplier: Decimal = Decimal(1)
    first_purchase: bool = False  # this purchase would be the member's first
    birthday: date | None = None
    known_categories: frozenset[str] = frozenset()
    segment: str | None = None  # as of the last segmentation run (None: never placed)


# ------------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class Cut:
    cap: str  # "day" | "week" | "month" | "lifetime" | "budget" | "daily_ceiling"
    points: int


@dataclass(frozen=True)
class Share:
    """What one rule (or the tier) gave."""

    rule_id: int | None  # None for the tier multiplier
    name: str
    kind: str  # an EffectKind value, or "tier"
    computed: Decimal  # before rounding and caps
    points: int  # what it gives, rounded down and after caps
    cuts: tuple[Cut, ...] = ()


@dataclass(frozen=True)
class Skipped:
    rule_id: int
    name: str
    reason: str


@dataclass(frozen=True)
class Outcome:
    points: int
    shares: tuple[Share, ...]
    skipped: tuple[Skipped, ...]
    line_points: tuple[Decimal, ...]  # each line's points before rounding and caps
    order_points: Decimal  # fixed points (per order / event), before rounding and caps
    business_day: date
    counters: Mapping[str, int]  # counter key → points to add
    budgets: Mapping[int, int]  # rule id → budget points consumed

    @property
    def computed(self) -> Decimal:
        return sum(self.line_points, Decimal(0)) + self.order_points

    def details(self) -> dict[str, Any]:
        """The breakdown as JSON, stored on the ledger entry so history explains itself."""
        return {
            "points": self.points,
            "business_day": self.business_day.isoformat(),
            "rules": [
                {
                    "rule_id": s.rule_id,
                    "name": s.name,
                    "kind": s.kind,
                    "computed": str(s.computed),
                    "points": s.points,
                    "cuts": [{"cap": c.cap, "points": c.points} for c in s.cuts],
                }
                for s in self.shares
            ],
            "skipped": [
                {"rule_id": s.rule_id, "name": s.name, "reason": s.reason} for s in self.skipped
            ],
            "line_points": [str(p) for p in self.line_points],
            "order_points": str(self.order_points),
        }


def select_rules(rules: Iterable[Rule], trigger: Trigger, event: str | None) -> list[Rule]:
    """The rules a trigger (and, for events, an event name) runs."""
    return [r for r in rules if r.trigger is trigger and (event is None or r.event == event)]
