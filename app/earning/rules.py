"""The earning rule engine: pure functions, no I/O (the use cases read what they need and write).

Rules are data (:class:`Rule`, stored as a JSON *spec*, parsed in app/earning/specs.py);
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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from app.ledger.expiry import ExpiryPolicy, kindest

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


# ----------------------------------------------------------------------------- counter keys


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


def select_rules(rules: Iterable[Rule], trigger: Trigger, event: str | None) -> list[Rule]:
    """The rules a trigger (and, for events, an event name) runs."""
    return [r for r in rules if r.trigger is trigger and (event is None or r.event == event)]


def counter_keys(rules: Iterable[Rule], day: date) -> list[str]:
    """Every counter :func:`evaluate` may read for these rules on this business day."""
    keys = [ceiling_counter(day)]
    for rule in rules:
        keys += [rule_counter(rule.id, period, day) for period, _ in rule.caps.items()]
    return keys


# ---------------------------------------------------------------------------- the evaluation


def local_day(at: datetime, tz: str) -> date:
    return at.astimezone(ZoneInfo(tz)).date()


def _is_birthday(birthday: date | None, day: date) -> bool:
    if birthday is None:
        return False
    if birthday.month == 2 and birthday.day == 29 and not _leap(day.year):
        return (day.month, day.day) == (2, 28)
    return (day.month, day.day) == (birthday.month, birthday.day)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _rule_level_holds(rule: Rule, channel: str, day: date, member: MemberFacts) -> str | None:
    """None when the rule-level conditions hold, else why not."""
    c = rule.conditions
    if c.channels is not None and channel not in c.channels:
        return "channel"
    if c.weekdays is not None and day.isoweekday() not in c.weekdays:
        return "weekday"
    if c.days_of_month is not None and day.day not in c.days_of_month:
        return "day of month"
    if c.date_from is not None and day < c.date_from:
        return "before the date window"
    if c.date_to is not None and day > c.date_to:
        return "after the date window"
    if c.tiers is not None and member.tier not in c.tiers:
        return "tier"
    if c.first_purchase is not None and c.first_purchase != member.first_purchase:
        return "first purchase"
    if c.birthday is not None and c.birthday != _is_birthday(member.birthday, day):
        return "birthday"
    return None


def _line_matches(c: Conditions, line: Line, member: MemberFacts) -> bool:
    if c.categories is not None and line.category not in c.categories:
        return False
    if c.skus is not None and line.sku not in c.skus:
        return False
    return c.new_category is None or c.new_category == (
        line.category not in member.known_categories
    )


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


@dataclass
class _Candidate:
    rule: Rule
    lines: list[int]  # indexes of the eligible lines
    standalone: Decimal = Decimal(0)


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
    candidates = _applicable(rules, trigger, event, happened.channel, lines, day, member, skipped)
    kept = _not_excluded(candidates, skipped)
    kept = _highest_wins(kept, EffectKind.PER_UNIT, lambda c: _standalone(c, lines, None), skipped)
    base = _base(kept, lines)
    for kind in (EffectKind.MULTIPLIER, EffectKind.PERCENT_BONUS, EffectKind.FIXED):
        kept = _highest_wins(kept, kind, lambda c: _standalone(c, lines, base), skipped)
    tier_factor = member.tier_multiplier if trigger is Trigger.PURCHASE else Decimal(1)
    shares, line_points, order_points = _shares(kept, lines, base, tier_factor, member.tier)
    return _apply_caps(
        shares,
        skipped,
        tuple(line_points),
        order_points,
        day,
        used or {},
        budgets_left or {},
        daily_ceiling,
    )


def _applicable(
    rules: Sequence[Rule],
    trigger: Trigger,
    event: str | None,
    channel: str,
    lines: Sequence[Line],
    day: date,
    member: MemberFacts,
    skipped: list[Skipped],
) -> list[_Candidate]:
    """The rules whose trigger and conditions hold, by priority, with their eligible lines;
    the others go to ``skipped`` with the reason."""
    candidates: list[_Candidate] = []
    for rule in sorted(rules, key=lambda r: (-r.priority, r.id)):
        if rule.trigger is not trigger or rule.event != event:
            continue
        why = _rule_level_holds(rule, channel, day, member)
        if why is None:
            eligible = [
                i for i, line in enumerate(lines) if _line_matches(rule.conditions, line, member)
            ]
            if not eligible:
                why = "no matching line"
            elif rule.conditions.min_amount is not None and (
                sum((lines[i].amount for i in eligible), Decimal(0)) < rule.conditions.min_amount
            ):
                why = "below the minimum amount"
        if why is not None:
            skipped.append(Skipped(rule.id, rule.name, f"condition not met: {why}"))
            continue
        candidates.append(_Candidate(rule, eligible))
    return candidates


def _not_excluded(candidates: list[_Candidate], skipped: list[Skipped]) -> list[_Candidate]:
    """Exclusive rules stop every rule of lower priority."""
    kept: list[_Candidate] = []
    stopper: Rule | None = None
    for cand in candidates:
        if stopper is not None and cand.rule.priority < stopper.priority:
            skipped.append(Skipped(cand.rule.id, cand.rule.name, f"excluded by rule {stopper.id}"))
            continue
        kept.append(cand)
        if stopper is None and cand.rule.combination is Combination.EXCLUSIVE:
            stopper = cand.rule
    return kept


def _base(kept: list[_Candidate], lines: Sequence[Line]) -> list[Decimal]:
    """Base points per line, from the per-unit rules (highest-wins among them resolved)."""
    base = [Decimal(0)] * len(lines)
    for cand in kept:
        if cand.rule.effect.kind is EffectKind.PER_UNIT:
            rate = cand.rule.effect.rate or Decimal(0)
            for i in cand.lines:
                base[i] += rate * lines[i].amount
    return base


_Share = tuple[Rule | None, str, str, Decimal]


def _shares(
    kept: list[_Candidate],
    lines: Sequence[Line],
    base: list[Decimal],
    tier_factor: Decimal,
    tier: str | None,
) -> tuple[list[_Share], list[Decimal], Decimal]:
    """Each rule's share before caps, the points per line and the order's fixed points."""
    shares: list[_Share] = []
    for cand in kept:
        if cand.rule.effect.kind is EffectKind.PER_UNIT:
            rate = cand.rule.effect.rate or Decimal(0)
            computed = sum((rate * lines[i].amount for i in cand.lines), Decimal(0))
            shares.append((cand.rule, cand.rule.name, EffectKind.PER_UNIT.value, computed))
    # The tier, then multiplying multipliers, in order: each adds what it multiplies on.
    running = list(base)
    if tier_factor != 1 and any(base):
        tier_extra = [b * (tier_factor - 1) for b in base]
        shares.append((None, f"tier {tier}", "tier", sum(tier_extra, Decimal(0))))
        running = [r + e for r, e in zip(running, tier_extra, strict=True)]
    for cand in kept:
        effect = cand.rule.effect
        if effect.kind is EffectKind.MULTIPLIER and effect.stacking is Stacking.MULTIPLY:
            factor = effect.factor or Decimal(1)
            extra_total = Decimal(0)
            for i in cand.lines:
                grown = running[i] * (factor - 1)
                running[i] += grown
                extra_total += grown
            shares.append((cand.rule, cand.rule.name, effect.kind.value, extra_total))
    order_points = _added_on_base(kept, base, running, shares)
    return shares, running, order_points


def _added_on_base(
    kept: list[_Candidate], base: list[Decimal], line_points: list[Decimal], shares: list[_Share]
) -> Decimal:
    """Adding multipliers and percentage bonuses add a part of the base to ``line_points``;
    fixed points go to the order (returned). Each appends its share."""
    order_points = Decimal(0)
    for cand in kept:
        effect = cand.rule.effect
        if effect.kind is EffectKind.MULTIPLIER and effect.stacking is Stacking.ADD:
            add = (effect.factor or Decimal(1)) - 1
        elif effect.kind is EffectKind.PERCENT_BONUS:
            add = (effect.percent or Decimal(0)) / 100
        elif effect.kind is EffectKind.FIXED:
            fixed = Decimal(effect.points or 0)
            order_points += fixed
            shares.append((cand.rule, cand.rule.name, effect.kind.value, fixed))
            continue
        else:
            continue
        extra_total = Decimal(0)
        for i in cand.lines:
            added = base[i] * add
            line_points[i] += added
            extra_total += added
        shares.append((cand.rule, cand.rule.name, effect.kind.value, extra_total))
    return order_points


def _standalone(cand: _Candidate, lines: Sequence[Line], base: list[Decimal] | None) -> Decimal:
    """What a rule is worth on its own, to compare ``highest`` rules of one effect kind."""
    effect = cand.rule.effect
    if effect.kind is EffectKind.PER_UNIT:
        return sum(((effect.rate or Decimal(0)) * lines[i].amount for i in cand.lines), Decimal(0))
    if effect.kind is EffectKind.FIXED:
        return Decimal(effect.points or 0)
    assert base is not None
    eligible = sum((base[i] for i in cand.lines), Decimal(0))
    if effect.kind is EffectKind.MULTIPLIER:
        return eligible * ((effect.factor or Decimal(1)) - 1)
    return eligible * (effect.percent or Decimal(0)) / 100


def _highest_wins(
    cands: list[_Candidate],
    kind: EffectKind,
    worth: Any,
    skipped: list[Skipped],
) -> list[_Candidate]:
    contenders = [
        c for c in cands if c.rule.effect.kind is kind and c.rule.combination is Combination.HIGHEST
    ]
    if len(contenders) < 2:
        return cands
    for c in contenders:
        c.standalone = worth(c)
    # Candidates are in (priority desc, id asc) order already: max() keeps the first best.
    best = max(contenders, key=lambda c: c.standalone)
    for c in contenders:
        if c is not best:
            skipped.append(Skipped(c.rule.id, c.rule.name, f"rule {best.rule.id} is worth more"))
    return [c for c in cands if c is best or c not in contenders]


def _apply_caps(
    raw: list[tuple[Rule | None, str, str, Decimal]],
    skipped: list[Skipped],
    line_points: tuple[Decimal, ...],
    order_points: Decimal,
    day: date,
    used: Mapping[str, int],
    budgets_left: Mapping[int, int],
    daily_ceiling: int | None,
) -> Outcome:
    shares: list[Share] = []
    counters: dict[str, int] = {}
    budgets: dict[int, int] = {}
    for rule, name, kind, computed in raw:
        points = max(_floor(computed), 0)
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
        shares.append(Share(rule.id if rule else None, name, kind, computed, points, tuple(cuts)))

    total = sum(s.points for s in shares)
    if daily_ceiling is not None:
        room = max(daily_ceiling - used.get(ceiling_counter(day), 0), 0)
        over = total - room
        for i in range(len(shares) - 1, -1, -1):
            if over <= 0:
                break
            share = shares[i]
            cut = min(share.points, over)
            if cut:
                shares[i] = replace(
                    share,
                    points=share.points - cut,
                    cuts=(*share.cuts, Cut("daily_ceiling", cut)),
                )
                over -= cut
        total = sum(s.points for s in shares)

    rules_by_share = {id(s): r for s, (r, *_) in zip(shares, raw, strict=True)}
    for share in shares:
        rule = rules_by_share[id(share)]
        if rule is None or share.points == 0:
            continue
        for period, _ in rule.caps.items():
            key = rule_counter(rule.id, period, day)
            counters[key] = counters.get(key, 0) + share.points
        if rule.budget is not None:
            budgets[rule.id] = budgets.get(rule.id, 0) + share.points
    if total and daily_ceiling is not None:
        counters[ceiling_counter(day)] = total
    return Outcome(
        points=total,
        shares=tuple(shares),
        skipped=tuple(skipped),
        line_points=line_points,
        order_points=order_points,
        business_day=day,
        counters=counters,
        budgets=budgets,
    )


# ---------------------------------------------------------------------- refunds (pure part)


def clawback_target(
    awarded: int,
    line_points: Sequence[Decimal],
    order_points: Decimal,
    line_amounts: Sequence[Decimal],
    refunded: Sequence[Decimal],
) -> int:
    """How many of ``awarded`` points the refunded part of an order accounts for, in all.

    Each line's points count in proportion to how much of the line is refunded; fixed (order)
    points in proportion to how much of the order is. The awarded points (after rounding and
    caps) are shared out in proportion to the computed ones, rounded down; a full refund is
    exactly ``awarded``. The claw-back of one refund is this target minus what earlier refunds
    clawed back, so nothing is ever clawed back twice and rounding never drifts.
    """
    order_total = sum(line_amounts, Decimal(0))
    refunded_total = sum(refunded, Decimal(0))
    if awarded == 0:
        return 0
    if refunded_total >= order_total:
        return awarded
    computed = sum(line_points, Decimal(0)) + order_points
    if computed <= 0:
        return 0
    share = Decimal(0)
    for points, amount, back in zip(line_points, line_amounts, refunded, strict=True):
        if amount > 0:
            share += points * back / amount
    if order_total > 0:
        share += order_points * refunded_total / order_total
    return min(_floor(Decimal(awarded) * share / computed), awarded)


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
