"""Earning's inputs: rules as staff write them, orders, refunds and events as channels report
them, and what they become for the use cases.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import strawberry

from app.earning.commands import PurchaseLineInput
from app.graphql.earning.enums import Combination, EffectKind, Stacking, Trigger
from app.graphql.segments.enums import Segment


@strawberry.input(description="Leave a condition out to match anything.")
class RuleConditionsInput:
    channels: list[str] | None = None
    categories: list[str] | None = strawberry.field(default=None, description="Line-level.")
    skus: list[str] | None = strawberry.field(default=None, description="Line-level.")
    min_amount: Decimal | None = strawberry.field(
        default=None, description="Of the eligible lines, in CNY, at most two decimals."
    )
    weekdays: list[int] | None = strawberry.field(default=None, description="1 = Monday … 7.")
    days_of_month: list[int] | None = None
    date_from: date | None = strawberry.field(default=None, description="Business-local.")
    date_to: date | None = strawberry.field(default=None, description="Inclusive.")
    tiers: list[str] | None = strawberry.field(default=None, description="Tier codes.")
    first_purchase: bool | None = None
    birthday: bool | None = None
    new_category: bool | None = strawberry.field(
        default=None, description="Line-level: a category the member never bought."
    )
    segments: list[Segment] | None = strawberry.field(
        default=None, description="The member's RFM segment, as of the last segmentation run."
    )


@strawberry.input(description="Give exactly the field the kind needs.")
class RuleEffectInput:
    kind: EffectKind
    rate: Decimal | None = strawberry.field(default=None, description="PER_UNIT: points per unit.")
    points: int | None = strawberry.field(default=None, description="FIXED.")
    factor: Decimal | None = strawberry.field(default=None, description="MULTIPLIER, above 1.")
    percent: Decimal | None = strawberry.field(default=None, description="PERCENT_BONUS.")
    stacking: Stacking | None = strawberry.field(
        default=None, description="MULTIPLIER only: MULTIPLY (default) or ADD."
    )


@strawberry.input(description="Per member, in the programme's business days.")
class RuleCapsInput:
    day: int | None = None
    week: int | None = None
    month: int | None = None
    lifetime: int | None = None


@strawberry.input
class EarningRuleInput:
    name: str
    trigger: Trigger
    effect: RuleEffectInput
    event: str | None = strawberry.field(default=None, description="For EVENT rules.")
    conditions: RuleConditionsInput | None = None
    combination: Combination = Combination.ADDITIVE
    priority: int = 0
    caps: RuleCapsInput | None = None
    budget: int | None = strawberry.field(
        default=None, description="Campaign budget: points this rule may give in all."
    )
    expiry: str | None = strawberry.field(
        default=None,
        description="Expiry policy of this rule's points, overriding the programme's: "
        "rolling:N, year_end[:N], fixed:YYYY-MM-DD or never (docs/LIFECYCLE.md).",
    )


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), str):
        return value.value
    return value


def _fields(obj: Any) -> dict[str, Any]:
    return {k: _plain(v) for k, v in vars(obj).items() if v is not None}


def rule_spec_of(rule: EarningRuleInput) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": rule.name,
        "trigger": rule.trigger.value,
        "effect": _fields(rule.effect),
        "combination": rule.combination.value,
        "priority": rule.priority,
    }
    if rule.event is not None:
        spec["event"] = rule.event
    if rule.conditions is not None:
        spec["conditions"] = _fields(rule.conditions)
    if rule.caps is not None:
        spec["caps"] = _fields(rule.caps)
    if rule.budget is not None:
        spec["budget"] = rule.budget
    if rule.expiry is not None:
        spec["expiry"] = rule.expiry
    return spec


@strawberry.input
class CreateEarningRuleInput:
    rule: EarningRuleInput
    enabled: bool = True


@strawberry.input
class UpdateEarningRuleInput:
    id: strawberry.ID
    rule: EarningRuleInput
    expected_version: int | None = strawberry.field(
        default=None, description="Refused when the rule changed since (optimistic check)."
    )


@strawberry.input
class SetEarningRuleEnabledInput:
    id: strawberry.ID
    enabled: bool
    expected_version: int | None = None


@strawberry.input(description="An unsaved earning rule, for previewPoints.")
class RuleDraftInput:
    id: strawberry.ID | None = strawberry.field(
        default=None, description="The rule it edits (in its place); none: a new rule."
    )
    rule: EarningRuleInput


@strawberry.input
class PurchaseLine:
    sku: str
    category: str
    quantity: int
    amount: Decimal = strawberry.field(description="The line's total in CNY, ≤ 2 decimals.")


def purchase_lines(lines: list[PurchaseLine]) -> list[PurchaseLineInput]:
    return [PurchaseLineInput(x.sku, x.category, x.quantity, x.amount) for x in lines]


@strawberry.input(description="Idempotent on (channel, orderId).")
class RecordPurchaseInput:
    member_id: strawberry.ID
    channel: str
    order_id: str
    lines: list[PurchaseLine]
    occurred_at: datetime | None = strawberry.field(
        default=None, description="When the order was placed (rules apply as of then)."
    )


@strawberry.input(description="Refund by lines, by amount, or (neither) all that is left.")
class RefundLine:
    line_no: int = strawberry.field(description="1-based, in the order's line order.")
    amount: Decimal


@strawberry.input(description="Idempotent on (channel, refundId).")
class RecordRefundInput:
    channel: str
    order_id: str
    refund_id: str
    lines: list[RefundLine] | None = None
    amount: Decimal | None = None


@strawberry.input(description="Idempotent on (channel, eventId).")
class RecordEventInput:
    member_id: strawberry.ID
    channel: str
    event_id: str
    name: str = strawberry.field(description="sign_in, share, review, running_calories, …")
    quantity: Decimal = strawberry.field(
        default=Decimal(1), description="For per-unit rules (e.g. calories run)."
    )
    occurred_at: datetime | None = None


@strawberry.input
class PreviewPointsInput:
    member_id: strawberry.ID
    channel: str
    lines: list[PurchaseLine]
    at: datetime | None = strawberry.field(default=None, description="Defaults to now.")
    draft: RuleDraftInput | None = strawberry.field(
        default=None,
        description="An unsaved rule to preview as if saved (staff who may read the rules).",
    )
