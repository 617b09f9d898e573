"""Earning: rules (staff), purchases, refunds and events (channels and partners), previews.

Resolvers check permissions, translate GraphQL values into plain values and call
:mod:`app.earning.usecases`; the rule engine and its checks live in :mod:`app.earning`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from app.earning import usecases
from app.earning.rules import CapPeriod, Combination, EffectKind, Stacking, Trigger
from app.earning.service import (
    EventResult,
    PurchaseLineInput,
    PurchaseRecord,
    RefundLineInput,
    RuleRecord,
    RuleVersion,
)
from app.graphql.breakdown import PointsBreakdown
from app.graphql.context import Info
from app.graphql.errors import MutationError, refusal_as_payload
from app.graphql.fields import described_field, described_mutation
from app.graphql.ledger import BalanceNode, EntryNode, balance_after_write
from app.graphql.pagination import PageInfo, decode_cursor, encode_cursor, page_size, parse_id
from app.graphql.tiers import TierChangeNode
from app.ledger.models import Entry

strawberry.enum(Trigger, name="EarningTrigger")
strawberry.enum(EffectKind, name="EarningEffectKind")
strawberry.enum(Combination, name="RuleCombination")
strawberry.enum(Stacking, name="MultiplierStacking")
strawberry.enum(CapPeriod, name="CapPeriod")


def _id(value: int) -> strawberry.ID:
    return strawberry.ID(str(value))


# ---------------------------------------------------------------------------------------- rules


@strawberry.type(name="EarningRuleVersion", description="One audited change of a rule.")
class RuleVersionNode:
    version: int
    change: str = strawberry.field(description="created, updated, enabled or disabled.")
    enabled: bool
    spec: JSON
    actor: str
    created_at: datetime

    @classmethod
    def of(cls, v: RuleVersion) -> RuleVersionNode:
        return cls(
            version=v.version,
            change=v.change,
            enabled=v.enabled,
            spec=JSON(v.spec),
            actor=v.actor,
            created_at=v.created_at,
        )


@strawberry.type(name="EarningRule", description="An earning rule (data, changed without deploy).")
class EarningRuleNode:
    record: strawberry.Private[RuleRecord]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return _id(self.record.rule.id)

    @strawberry.field
    def name(self) -> str:
        return self.record.rule.name

    @strawberry.field
    def trigger(self) -> Trigger:
        return self.record.rule.trigger

    @strawberry.field
    def event(self) -> str | None:
        return self.record.rule.event

    @strawberry.field
    def effect_kind(self) -> EffectKind:
        return self.record.rule.effect.kind

    @strawberry.field
    def combination(self) -> Combination:
        return self.record.rule.combination

    @strawberry.field
    def priority(self) -> int:
        return self.record.rule.priority

    @described_field("The rule's own expiry policy; null: the programme's.")
    def expiry(self) -> str | None:
        policy = self.record.rule.expiry
        return None if policy is None else policy.text

    @strawberry.field
    def enabled(self) -> bool:
        return self.record.enabled

    @strawberry.field
    def version(self) -> int:
        return self.record.version

    @described_field("The whole rule as stored (conditions, effect, caps, budget).")
    def spec(self) -> JSON:
        return JSON(self.record.spec)

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.record.updated_at

    @strawberry.field
    def updated_by(self) -> str:
        return self.record.updated_by

    @described_field("Every change, newest first: who changed what, when.")
    async def versions(self, info: Info) -> list[RuleVersionNode]:
        info.context.require("earningRules")
        rows = await usecases.rule_versions(info.context.runtime, self.record.rule.id)
        return [RuleVersionNode.of(v) for v in rows]


@strawberry.type
class EarningRuleEdge:
    cursor: str
    node: EarningRuleNode


@strawberry.type
class EarningRuleConnection:
    edges: list[EarningRuleEdge]
    page_info: PageInfo


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


@strawberry.type
class EarningRulePayload:
    rule: EarningRuleNode


EarningRuleResult = Annotated[
    EarningRulePayload | MutationError, strawberry.union("EarningRuleResult")
]

# ---------------------------------------------------------------------- purchases and events


@strawberry.input
class PurchaseLine:
    sku: str
    category: str
    quantity: int
    amount: Decimal = strawberry.field(description="The line's total in CNY, ≤ 2 decimals.")


def _lines(lines: list[PurchaseLine]) -> list[PurchaseLineInput]:
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


@strawberry.type(name="Purchase")
class PurchaseNode:
    id: strawberry.ID
    member_id: strawberry.ID
    channel: str
    order_id: str
    amount: Decimal
    refunded_amount: Decimal
    points: int = strawberry.field(description="Awarded (after rounding and caps).")
    clawed_back: int
    breakdown: PointsBreakdown
    occurred_at: datetime

    @classmethod
    def of(cls, p: PurchaseRecord) -> PurchaseNode:
        return cls(
            id=_id(p.id),
            member_id=_id(p.member_id),
            channel=p.channel,
            order_id=p.order_id,
            amount=p.amount,
            refunded_amount=p.refunded_amount,
            points=p.points,
            clawed_back=p.clawed_back,
            breakdown=PointsBreakdown.of(p.breakdown),
            occurred_at=p.occurred_at,
        )


@strawberry.type
class PurchaseRecorded:
    purchase: PurchaseNode
    entry: EntryNode | None = strawberry.field(description="Null when it earned no points.")
    tier_change: TierChangeNode | None = strawberry.field(
        description="The upgrade this purchase caused (it still earned at the old tier)."
    )
    replayed: bool = strawberry.field(description="True when this order was recorded before.")
    balance: BalanceNode


@strawberry.type
class RefundRecorded:
    refund_id: str
    amount: Decimal
    points_clawed_back: int
    purchase: PurchaseNode
    entry: EntryNode | None
    replayed: bool
    balance: BalanceNode


@strawberry.type
class EventRecorded:
    points: int
    breakdown: PointsBreakdown
    entry: EntryNode | None
    replayed: bool
    balance: BalanceNode


RecordPurchaseResult = Annotated[
    PurchaseRecorded | MutationError, strawberry.union("RecordPurchaseResult")
]
RecordRefundResult = Annotated[
    RefundRecorded | MutationError, strawberry.union("RecordRefundResult")
]
RecordEventResult = Annotated[EventRecorded | MutationError, strawberry.union("RecordEventResult")]


def _entry(entry: Entry | None) -> EntryNode | None:
    return None if entry is None else EntryNode.of(entry)


def _aware(value: datetime | None, field: str) -> datetime | None:
    from app.errors import invalid

    if value is not None and value.tzinfo is None:
        raise invalid("give a time zone offset (e.g. 2026-11-23T10:00:00+08:00)", field)
    return value


# ------------------------------------------------------------------------------------ queries


@strawberry.type
class EarningQueries:
    @described_field("Earning rules, by id (staff).")
    async def earning_rules(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        enabled: bool | None = None,
    ) -> EarningRuleConnection:
        ctx = info.context
        ctx.require("earningRules")
        size = page_size(first, ctx.runtime.settings.page_size_cap)
        rows = await usecases.list_rules(
            ctx.runtime,
            enabled=enabled,
            after_id=decode_cursor("rule", after),
            first=size + 1,
        )
        edges = [
            EarningRuleEdge(cursor=encode_cursor("rule", r.rule.id), node=EarningRuleNode(record=r))
            for r in rows
        ]
        shown = edges[:size]
        return EarningRuleConnection(
            edges=shown,
            page_info=PageInfo(
                has_next_page=len(edges) > size, end_cursor=shown[-1].cursor if shown else None
            ),
        )

    @described_field("The points a basket would earn now, with the breakdown (nothing written).")
    async def preview_points(self, info: Info, input: PreviewPointsInput) -> PointsBreakdown:
        ctx = info.context
        ctx.require("previewPoints")
        member_id = parse_id(input.member_id, "memberId")
        await ctx.require_on_member("previewPoints", member_id)
        outcome = await usecases.preview_points(
            ctx.runtime,
            member_id=member_id,
            channel=input.channel,
            lines=_lines(input.lines),
            at=_aware(input.at, "at"),
        )
        return PointsBreakdown.of_outcome(outcome)


# ---------------------------------------------------------------------------------- mutations


@strawberry.type
class EarningMutations:
    @described_mutation("Create an earning rule (staff); every change is versioned and audited.")
    async def create_earning_rule(
        self, info: Info, input: CreateEarningRuleInput
    ) -> EarningRuleResult:
        ctx = info.context

        async def run() -> EarningRulePayload:
            ctx.require("createEarningRule")
            record = await usecases.create_rule(
                ctx.runtime,
                ctx.principal.to_actor(),
                rule_spec_of(input.rule),
                enabled=input.enabled,
            )
            return EarningRulePayload(rule=EarningRuleNode(record=record))

        return await refusal_as_payload(run)

    @described_mutation("Replace an earning rule's definition (a new version).")
    async def update_earning_rule(
        self, info: Info, input: UpdateEarningRuleInput
    ) -> EarningRuleResult:
        ctx = info.context

        async def run() -> EarningRulePayload:
            ctx.require("updateEarningRule")
            record = await usecases.update_rule(
                ctx.runtime,
                ctx.principal.to_actor(),
                parse_id(input.id, "id"),
                rule_spec_of(input.rule),
                expected_version=input.expected_version,
            )
            return EarningRulePayload(rule=EarningRuleNode(record=record))

        return await refusal_as_payload(run)

    @described_mutation("Enable or disable an earning rule (a new version).")
    async def set_earning_rule_enabled(
        self, info: Info, input: SetEarningRuleEnabledInput
    ) -> EarningRuleResult:
        ctx = info.context

        async def run() -> EarningRulePayload:
            ctx.require("setEarningRuleEnabled")
            record = await usecases.set_rule_enabled(
                ctx.runtime,
                ctx.principal.to_actor(),
                parse_id(input.id, "id"),
                input.enabled,
                expected_version=input.expected_version,
            )
            return EarningRulePayload(rule=EarningRuleNode(record=record))

        return await refusal_as_payload(run)

    @described_mutation("Record an order: earns by the rules, pending for the return window.")
    async def record_purchase(self, info: Info, input: RecordPurchaseInput) -> RecordPurchaseResult:
        ctx = info.context

        async def run() -> PurchaseRecorded:
            ctx.require("recordPurchase")
            member_id = parse_id(input.member_id, "memberId")
            ctx.require_on_channel("recordPurchase", input.channel)
            await ctx.require_on_member("recordPurchase", member_id)
            result = await usecases.record_purchase(
                ctx.runtime,
                ctx.principal.to_actor(),
                member_id=member_id,
                channel=input.channel,
                order_id=input.order_id,
                lines=_lines(input.lines),
                occurred_at=_aware(input.occurred_at, "occurredAt"),
            )
            return PurchaseRecorded(
                purchase=PurchaseNode.of(result.purchase),
                entry=_entry(result.entry),
                tier_change=None
                if result.tier_change is None
                else TierChangeNode.of_change(result.tier_change),
                replayed=result.replayed,
                balance=await balance_after_write(ctx, member_id),
            )

        return await refusal_as_payload(run)

    @described_mutation("Refund all or part of an order: claws back what the refunded part earned.")
    async def record_refund(self, info: Info, input: RecordRefundInput) -> RecordRefundResult:
        ctx = info.context

        async def run() -> RefundRecorded:
            ctx.require("recordRefund")
            ctx.require_on_channel("recordRefund", input.channel)
            result = await usecases.record_refund(
                ctx.runtime,
                ctx.principal.to_actor(),
                channel=input.channel,
                order_id=input.order_id,
                refund_id=input.refund_id,
                lines=None
                if input.lines is None
                else [RefundLineInput(x.line_no, x.amount) for x in input.lines],
                amount=input.amount,
            )
            return RefundRecorded(
                refund_id=input.refund_id,
                amount=result.amount,
                points_clawed_back=result.points,
                purchase=PurchaseNode.of(result.purchase),
                entry=_entry(result.entry),
                replayed=result.replayed,
                balance=await balance_after_write(ctx, result.purchase.member_id),
            )

        return await refusal_as_payload(run)

    @described_mutation("Record a behaviour or custom event (sign-in, share, calories run, …).")
    async def record_event(self, info: Info, input: RecordEventInput) -> RecordEventResult:
        ctx = info.context

        async def run() -> EventRecorded:
            ctx.require("recordEvent")
            member_id = parse_id(input.member_id, "memberId")
            ctx.require_on_channel("recordEvent", input.channel)
            await ctx.require_on_member("recordEvent", member_id)
            result: EventResult = await usecases.record_event(
                ctx.runtime,
                ctx.principal.to_actor(),
                member_id=member_id,
                channel=input.channel,
                event_id=input.event_id,
                name=input.name,
                quantity=input.quantity,
                occurred_at=_aware(input.occurred_at, "occurredAt"),
            )
            return EventRecorded(
                points=result.points,
                breakdown=PointsBreakdown.of(result.breakdown),
                entry=_entry(result.entry),
                replayed=result.replayed,
                balance=await balance_after_write(ctx, member_id),
            )

        return await refusal_as_payload(run)
