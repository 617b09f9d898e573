"""Step 4 of the arithmetic (app/earning/engine.py): what each applicable rule gives, before
rounding and caps. Pure.

Per line: base = Σ per-unit rules' rate x the line's amount; the member's tier multiplier and
the ``multiply`` multipliers multiply it, the ``add`` multipliers add (factor - 1) x base each,
and percentage bonuses add percent x base each. Fixed points are per order (per event) and
never multiplied.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from app.earning.conditions import Candidate
from app.earning.rules import EffectKind, Line, Rule, Stacking

# What one rule (None: the tier) gave before rounding and caps: rule, name, kind, points.
RawShare = tuple[Rule | None, str, str, Decimal]


def base_points(kept: list[Candidate], lines: Sequence[Line]) -> list[Decimal]:
    """Base points per line, from the per-unit rules (highest-wins among them resolved)."""
    base = [Decimal(0)] * len(lines)
    for cand in kept:
        if cand.rule.effect.kind is EffectKind.PER_UNIT:
            rate = cand.rule.effect.rate or Decimal(0)
            for i in cand.lines:
                base[i] += rate * lines[i].amount
    return base


def shares(
    kept: list[Candidate],
    lines: Sequence[Line],
    base: list[Decimal],
    tier_factor: Decimal,
    tier: str | None,
) -> tuple[list[RawShare], list[Decimal], Decimal]:
    """Each rule's share before caps, the points per line and the order's fixed points."""
    raw = _per_unit_shares(kept, lines)
    running = list(base)
    if tier_factor != 1 and any(base):
        raw.append(_tier_share(running, base, tier_factor, tier))
    raw += _multiplied_shares(kept, running)
    order_points = _added_on_base(kept, base, running, raw)
    return raw, running, order_points


def _per_unit_shares(kept: list[Candidate], lines: Sequence[Line]) -> list[RawShare]:
    raw: list[RawShare] = []
    for cand in kept:
        if cand.rule.effect.kind is EffectKind.PER_UNIT:
            rate = cand.rule.effect.rate or Decimal(0)
            computed = sum((rate * lines[i].amount for i in cand.lines), Decimal(0))
            raw.append((cand.rule, cand.rule.name, EffectKind.PER_UNIT.value, computed))
    return raw


def _tier_share(
    running: list[Decimal], base: list[Decimal], tier_factor: Decimal, tier: str | None
) -> RawShare:
    """The tier multiplies first: what it adds goes onto ``running`` (the points per line)."""
    tier_extra = [b * (tier_factor - 1) for b in base]
    for i, extra in enumerate(tier_extra):
        running[i] += extra
    return (None, f"tier {tier}", "tier", sum(tier_extra, Decimal(0)))


def _multiplied_shares(kept: list[Candidate], running: list[Decimal]) -> list[RawShare]:
    """Multiplying multipliers, in order: each adds what it multiplies on to ``running``."""
    raw: list[RawShare] = []
    for cand in kept:
        effect = cand.rule.effect
        if effect.kind is EffectKind.MULTIPLIER and effect.stacking is Stacking.MULTIPLY:
            factor = effect.factor or Decimal(1)
            extra_total = Decimal(0)
            for i in cand.lines:
                grown = running[i] * (factor - 1)
                running[i] += grown
                extra_total += grown
            raw.append((cand.rule, cand.rule.name, effect.kind.value, extra_total))
    return raw


def _added_on_base(
    kept: list[Candidate], base: list[Decimal], line_points: list[Decimal], raw: list[RawShare]
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
            raw.append((cand.rule, cand.rule.name, effect.kind.value, fixed))
            continue
        else:
            continue
        extra_total = Decimal(0)
        for i in cand.lines:
            added = base[i] * add
            line_points[i] += added
            extra_total += added
        raw.append((cand.rule, cand.rule.name, effect.kind.value, extra_total))
    return order_points
