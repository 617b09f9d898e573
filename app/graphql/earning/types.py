"""Earning: rules with their versions, purchases, refunds and events as recorded."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry
from strawberry.scalars import JSON

from app.earning.records import PurchaseRecord
from app.earning.rulebook import RuleRecord, RuleVersion
from app.graphql.core.context import Info
from app.graphql.core.fields import described_field, node_id
from app.graphql.core.pagination import Connection
from app.graphql.earning import dataloaders
from app.graphql.earning.breakdown import PointsBreakdown
from app.graphql.earning.enums import Combination, EffectKind, Trigger
from app.graphql.ledger.types import BalanceNode, EntryNode
from app.graphql.tiers.types import TierChangeNode
from app.ledger.models import Entry


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
        return node_id(self.record.rule.id)

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
        rows = await info.context.loaders.of(dataloaders.rule_versions).load(self.record.rule.id)
        return [RuleVersionNode.of(v) for v in rows]


@strawberry.type
class EarningRuleConnection(Connection[EarningRuleNode]):
    pass


@strawberry.type
class EarningRulePayload:
    rule: EarningRuleNode


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
            id=node_id(p.id),
            member_id=node_id(p.member_id),
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


def entry_node(entry: Entry | None) -> EntryNode | None:
    return None if entry is None else EntryNode.of(entry)
