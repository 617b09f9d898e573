"""Steps 2 and 3 of the arithmetic (app/earning/engine.py): how applicable rules combine.

An ``exclusive`` rule stops every rule of lower priority; among ``highest`` rules of one effect
kind only the one worth the most on its own applies. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from app.earning.conditions import Candidate
from app.earning.rules import Combination, EffectKind, Line, Rule, Skipped


def not_excluded(candidates: list[Candidate], skipped: list[Skipped]) -> list[Candidate]:
    """Exclusive rules stop every rule of lower priority (rules of the same or higher priority
    still apply)."""
    kept: list[Candidate] = []
    stopper: Rule | None = None
    for cand in candidates:
        if stopper is not None and cand.rule.priority < stopper.priority:
            skipped.append(Skipped(cand.rule.id, cand.rule.name, f"excluded by rule {stopper.id}"))
            continue
        kept.append(cand)
        if stopper is None and cand.rule.combination is Combination.EXCLUSIVE:
            stopper = cand.rule
    return kept


def standalone(cand: Candidate, lines: Sequence[Line], base: list[Decimal] | None) -> Decimal:
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


def highest_wins(
    cands: list[Candidate],
    kind: EffectKind,
    worth: Callable[[Candidate], Decimal],
    skipped: list[Skipped],
) -> list[Candidate]:
    """Among the ``highest`` rules of effect ``kind``, only the one ``worth`` the most stays
    (ties: the first, so higher priority, then lower id)."""
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
