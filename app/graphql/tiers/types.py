"""Tiers: definitions, a member's tier with the way to the next one, tier history."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry

from app.graphql.tiers.enums import QualifyingMeasure, TaskMeasure
from app.tiers.policy import TaskProgress, TierChange, TierDef, TierTask
from app.tiers.service import DefinitionVersion


@strawberry.type(name="TierTask", description="A task measured per calendar quarter.")
class TierTaskNode:
    measure: TaskMeasure
    target: Decimal = strawberry.field(description="CNY for spend, a count for referrals.")

    @classmethod
    def of(cls, task: TierTask) -> TierTaskNode:
        return cls(measure=task.measure, target=task.target)


@strawberry.type(name="Tier", description="A tier: qualifying spend, multiplier, benefits, tasks.")
class TierNode:
    code: str
    name: str
    rank: int
    threshold: Decimal = strawberry.field(
        description="The qualifying amount to reach it over the rolling window: CNY (purchases "
        "minus refunds) or points, as the programme's measure."
    )
    multiplier: Decimal
    benefits: list[str]
    keep_task: TierTaskNode | None = strawberry.field(
        description="保级: completed in the review's quarter or the one before, keeps the tier."
    )
    upgrade_tasks: list[TierTaskNode] = strawberry.field(
        description="Any one completed this quarter upgrades a lower-tier member at once."
    )
    version: int | None = strawberry.field(
        description="The definition's version (staff edits); null where not asked for."
    )

    @classmethod
    def of(cls, d: TierDef, version: int | None = None) -> TierNode:
        return cls(
            code=d.code,
            name=d.name,
            rank=d.rank,
            threshold=d.threshold,
            multiplier=d.multiplier,
            benefits=list(d.benefits),
            keep_task=None if d.keep_task is None else TierTaskNode.of(d.keep_task),
            upgrade_tasks=[TierTaskNode.of(t) for t in d.upgrade_tasks],
            version=version,
        )


@strawberry.type(name="TierTaskProgress", description="This quarter's progress on one task.")
class TierTaskProgressNode:
    tier: str = strawberry.field(description="The tier the task upgrades to, or keeps.")
    purpose: str = strawberry.field(description="upgrade or keep.")
    task: TierTaskNode
    done: Decimal
    remaining: Decimal = strawberry.field(description="0 once completed.")

    @classmethod
    def of(cls, p: TaskProgress) -> TierTaskProgressNode:
        return cls(
            tier=p.tier.code,
            purpose=p.purpose,
            task=TierTaskNode.of(p.task),
            done=p.done,
            remaining=p.remaining,
        )


@strawberry.type(name="TierChange")
class TierChangeNode:
    from_tier: str | None
    to_tier: str
    reason: str = strawberry.field(description="upgrade, task, review or inactivity.")
    qualifying_spend: Decimal | None
    created_at: datetime | None

    @classmethod
    def of_change(cls, change: TierChange) -> TierChangeNode:
        return cls(
            from_tier=change.from_tier,
            to_tier=change.to.code,
            reason=change.reason.value,
            qualifying_spend=change.qualifying_spend,
            created_at=change.created_at,
        )

    @classmethod
    def of_row(cls, row: dict[str, Any]) -> TierChangeNode:
        return cls(
            from_tier=row["from_tier"],
            to_tier=row["to_tier"],
            reason=row["reason"],
            qualifying_spend=Decimal(row["qualifying_spend"]),
            created_at=row["created_at"],
        )


@strawberry.type(name="MemberTier", description="The member's tier and the way to the next.")
class MemberTierNode:
    tier: TierNode
    since: datetime | None
    review_at: datetime | None = strawberry.field(description="When the tier is reviewed.")
    qualifying_measure: QualifyingMeasure = strawberry.field(
        description="What thresholds count: SPEND (CNY) or POINTS, over the rolling window."
    )
    qualifying_spend: Decimal = strawberry.field(
        description="The qualifying amount over the rolling window, in the measure's unit."
    )
    next_tier: TierNode | None
    spend_to_next_tier: Decimal = strawberry.field(
        description="How much more of the measure reaches the next tier; 0 at the top tier."
    )
    tasks: list[TierTaskProgressNode] = strawberry.field(
        description="This quarter: every higher tier's upgrade tasks, the current keep task."
    )


@strawberry.type(name="TierDefinitionVersion", description="One audited change of a tier.")
class TierDefinitionVersionNode:
    code: str
    version: int
    change: str = strawberry.field(description="created or updated.")
    definition: TierNode = strawberry.field(description="The tier as this change made it.")
    actor: str
    created_at: datetime

    @classmethod
    def of(cls, v: DefinitionVersion) -> TierDefinitionVersionNode:
        return cls(
            code=v.code,
            version=v.version,
            change=v.change,
            definition=TierNode.of(v.definition, v.version),
            actor=v.actor,
            created_at=v.created_at,
        )


@strawberry.type
class TierDefinitionSaved:
    tier: TierNode
    changed: bool = strawberry.field(description="False when it was already so (no version).")
