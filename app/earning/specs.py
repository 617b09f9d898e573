"""Rule specs: a rule's JSON spec parsed and checked into a :class:`app.earning.rules.Rule` (a
clear INVALID_INPUT naming the field, for anything out of bounds), written back as the spec
stored, and the money amounts every earning input uses. Pure, like the engine
(app/earning/engine.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from enum import StrEnum
from itertools import pairwise
from typing import Any

from app.earning.rules import (
    CENT,
    MAX_CAP,
    MAX_FACTOR,
    MAX_FIXED_POINTS,
    MAX_LIST,
    MAX_MONEY,
    MAX_NAME,
    MAX_PERCENT,
    MAX_RATE,
    MAX_TEXT_ITEM,
    RATE_PLACES,
    Caps,
    Combination,
    Conditions,
    Effect,
    EffectKind,
    Rule,
    Stacking,
    Trigger,
)
from app.errors import invalid
from app.ledger.expiry import parse_policy_value
from app.segments.policy import check_segments


def money(value: Any, field_name: str, *, allow_zero: bool = True) -> Decimal:
    """A currency amount: a Decimal with at most two decimals, not negative, not absurd."""
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise invalid(f"{field_name} is not a number", field_name) from None
    if not amount.is_finite():
        raise invalid(f"{field_name} must be a finite number", field_name)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise invalid(f"{field_name} must be {'≥' if allow_zero else '>'} 0", field_name)
    if amount > MAX_MONEY:
        raise invalid(f"{field_name} is above {MAX_MONEY}", field_name)
    if amount != amount.quantize(CENT, rounding=ROUND_FLOOR):
        raise invalid(f"{field_name} has more than two decimals", field_name)
    return amount.quantize(CENT)


def _number(value: Any, name: str, *, low: Decimal, high: Decimal, low_open: bool) -> Decimal:
    if isinstance(value, bool):
        raise invalid(f"{name} must be a number", name)
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise invalid(f"{name} is not a number", name) from None
    if not number.is_finite():
        raise invalid(f"{name} must be a finite number", name)
    if number < 0:
        raise invalid(f"{name} must not be negative", name)
    if (number <= low if low_open else number < low) or number > high:
        bound = f"above {low}" if low_open else f"at least {low}"
        raise invalid(f"{name} must be {bound} and at most {high}", name)
    if number != round(number, RATE_PLACES):
        raise invalid(f"{name} has more than {RATE_PLACES} decimals", name)
    return number.normalize() if number == number.to_integral_value() else number


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"{name} must be a whole number", name)
    if not low <= value <= high:
        raise invalid(f"{name} must be between {low} and {high}", name)
    return value


def _texts(value: Any, name: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not value:
        raise invalid(f"{name} must be a non-empty list (leave it out to match any)", name)
    if len(value) > MAX_LIST:
        raise invalid(f"{name} has more than {MAX_LIST} items", name)
    items = []
    for item in value:
        if not isinstance(item, str) or not item.strip() or len(item) > MAX_TEXT_ITEM:
            raise invalid(f"{name} items must be 1..{MAX_TEXT_ITEM} characters", name)
        items.append(item)
    return tuple(sorted(set(items)))


def _ints(value: Any, name: str, low: int, high: int) -> tuple[int, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not value:
        raise invalid(f"{name} must be a non-empty list (leave it out to match any)", name)
    return tuple(sorted({_int(v, name, low, high) for v in value}))


def _flag(value: Any, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise invalid(f"{name} must be true, false or absent", name)


def _date(value: Any, name: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise invalid(f"{name} must be a date (YYYY-MM-DD)", name) from None


def _check_keys(spec: Mapping[str, Any], allowed: set[str], where: str) -> None:
    if not isinstance(spec, Mapping):
        raise invalid(f"{where} must be an object", where)
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise invalid(f"unknown {where} field(s): {', '.join(unknown)}", where)


CONDITION_KEYS = {
    "channels",
    "categories",
    "skus",
    "min_amount",
    "weekdays",
    "days_of_month",
    "date_from",
    "date_to",
    "tiers",
    "first_purchase",
    "birthday",
    "new_category",
    "segments",
}
EFFECT_KEYS = {"kind", "rate", "points", "factor", "percent", "stacking"}
CAP_KEYS = {"day", "week", "month", "lifetime"}
RULE_KEYS = {
    "name",
    "trigger",
    "event",
    "conditions",
    "effect",
    "combination",
    "priority",
    "caps",
    "budget",
    "expiry",
}


def _enum(cls: type[StrEnum], value: Any, name: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        choices = ", ".join(m.value for m in cls)
        raise invalid(f"{name} must be one of {choices}", name) from None


def parse_conditions(spec: Mapping[str, Any]) -> Conditions:
    _check_keys(spec, CONDITION_KEYS, "conditions")
    c = Conditions(
        channels=_texts(spec.get("channels"), "conditions.channels"),
        categories=_texts(spec.get("categories"), "conditions.categories"),
        skus=_texts(spec.get("skus"), "conditions.skus"),
        min_amount=None
        if spec.get("min_amount") is None
        else money(spec["min_amount"], "conditions.min_amount"),
        weekdays=_ints(spec.get("weekdays"), "conditions.weekdays", 1, 7),
        days_of_month=_ints(spec.get("days_of_month"), "conditions.days_of_month", 1, 31),
        date_from=_date(spec.get("date_from"), "conditions.date_from"),
        date_to=_date(spec.get("date_to"), "conditions.date_to"),
        tiers=_texts(spec.get("tiers"), "conditions.tiers"),
        first_purchase=_flag(spec.get("first_purchase"), "conditions.first_purchase"),
        birthday=_flag(spec.get("birthday"), "conditions.birthday"),
        new_category=_flag(spec.get("new_category"), "conditions.new_category"),
        segments=check_segments(
            _texts(spec.get("segments"), "conditions.segments"), "conditions.segments"
        ),
    )
    if c.date_from and c.date_to and c.date_from > c.date_to:
        raise invalid("the date window ends before it starts", "conditions.date_to")
    return c


def parse_effect(spec: Mapping[str, Any]) -> Effect:
    _check_keys(spec, EFFECT_KEYS, "effect")
    kind: EffectKind = _enum(EffectKind, spec.get("kind"), "effect.kind")
    needed = {
        EffectKind.PER_UNIT: "rate",
        EffectKind.FIXED: "points",
        EffectKind.MULTIPLIER: "factor",
        EffectKind.PERCENT_BONUS: "percent",
    }[kind]
    extra = {k for k in ("rate", "points", "factor", "percent") if spec.get(k) is not None}
    if needed not in extra:
        raise invalid(f"a {kind.value} effect needs effect.{needed}", f"effect.{needed}")
    if extra - {needed}:
        others = ", ".join(sorted(extra - {needed}))
        raise invalid(f"a {kind.value} effect takes only {needed}, not {others}", "effect")
    if spec.get("stacking") is not None and kind is not EffectKind.MULTIPLIER:
        raise invalid("stacking applies to multipliers only", "effect.stacking")
    stacking: Stacking = _enum(Stacking, spec.get("stacking") or "multiply", "effect.stacking")
    value = spec[needed]
    if kind is EffectKind.PER_UNIT:
        return Effect(
            kind,
            rate=_number(value, "effect.rate", low=Decimal(0), high=MAX_RATE, low_open=True),
        )
    if kind is EffectKind.FIXED:
        return Effect(kind, points=_int(value, "effect.points", 1, MAX_FIXED_POINTS))
    if kind is EffectKind.MULTIPLIER:
        factor = _number(value, "effect.factor", low=Decimal(1), high=MAX_FACTOR, low_open=True)
        return Effect(kind, factor=factor, stacking=stacking)
    percent = _number(value, "effect.percent", low=Decimal(0), high=MAX_PERCENT, low_open=True)
    return Effect(kind, percent=percent)


def parse_caps(spec: Mapping[str, Any] | None) -> Caps:
    if spec is None:
        return Caps()
    _check_keys(spec, CAP_KEYS, "caps")
    values = {
        p: None if spec.get(p) is None else _int(spec[p], f"caps.{p}", 1, MAX_CAP) for p in CAP_KEYS
    }
    caps = Caps(**values)
    present = caps.items()
    for (short, low), (long, high) in pairwise(present):
        if low > high:
            raise invalid(
                f"the {short} cap ({low}) is above the {long} cap ({high}): it could never bind",
                f"caps.{short}",
            )
    return caps


def parse_rule(rule_id: int, spec: Mapping[str, Any]) -> Rule:
    """A rule from its JSON spec; anything unknown, contradictory or out of range is refused."""
    _check_keys(spec, RULE_KEYS, "rule")
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise invalid(f"name must be 1..{MAX_NAME} characters", "name")
    trigger: Trigger = _enum(Trigger, spec.get("trigger"), "trigger")
    event = spec.get("event")
    if trigger is Trigger.EVENT:
        if not isinstance(event, str) or not event.strip() or len(event) > MAX_TEXT_ITEM:
            raise invalid(f"an event rule needs an event name (1..{MAX_TEXT_ITEM})", "event")
    elif event is not None:
        raise invalid("a purchase rule takes no event name", "event")
    conditions = parse_conditions(spec.get("conditions") or {})
    effect = parse_effect(spec.get("effect") or {})
    if trigger is Trigger.EVENT:
        purchase_only = [
            k
            for k in ("categories", "skus", "min_amount", "first_purchase", "new_category")
            if getattr(conditions, k) is not None
        ]
        if purchase_only:
            raise invalid(
                f"an event rule cannot have purchase conditions: {', '.join(purchase_only)}",
                "conditions",
            )
    priority = spec.get("priority", 0)
    return Rule(
        id=rule_id,
        name=name.strip(),
        trigger=trigger,
        event=event.strip() if isinstance(event, str) else None,
        conditions=conditions,
        effect=effect,
        combination=_enum(Combination, spec.get("combination") or "additive", "combination"),
        priority=_int(priority, "priority", -1000, 1000),
        caps=parse_caps(spec.get("caps")),
        budget=None if spec.get("budget") is None else _int(spec["budget"], "budget", 1, 10**12),
        expiry=parse_policy_value(spec.get("expiry")),
    )


def rule_spec(rule: Rule) -> dict[str, Any]:
    """The JSON spec of a rule (what is stored); parse_rule(id, rule_spec(r)) == r."""

    def clean(values: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in values.items():
            if value is None:
                continue
            if isinstance(value, Decimal):
                out[key] = str(value)
            elif isinstance(value, date):
                out[key] = value.isoformat()
            elif isinstance(value, tuple):
                out[key] = list(value)
            elif isinstance(value, StrEnum):
                out[key] = value.value
            else:
                out[key] = value
        return out

    c = rule.conditions
    e = rule.effect
    spec: dict[str, Any] = {
        "name": rule.name,
        "trigger": rule.trigger.value,
        "conditions": clean({k: getattr(c, k) for k in sorted(CONDITION_KEYS)}),
        "effect": clean(
            {
                "kind": e.kind,
                "rate": e.rate,
                "points": e.points,
                "factor": e.factor,
                "percent": e.percent,
                "stacking": e.stacking if e.kind is EffectKind.MULTIPLIER else None,
            }
        ),
        "combination": rule.combination.value,
        "priority": rule.priority,
        "caps": clean({p.value: v for p, v in rule.caps.items()}),
    }
    if rule.event is not None:
        spec["event"] = rule.event
    if rule.budget is not None:
        spec["budget"] = rule.budget
    if rule.expiry is not None:
        spec["expiry"] = rule.expiry.text
    return spec
