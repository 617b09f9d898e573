"""Tiers: definitions, a member's tier with "how much more to the next tier", tier history.

The Member type (app/graphql/members.py) exposes ``tier`` and ``tierHistory`` through
:func:`member_tier` and :func:`member_tier_history`; both are the ``member`` read operation.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry

from app.graphql.context import Info
from app.graphql.fields import described_field
from app.tiers import usecases
from app.tiers.policy import Decision, TierDef


@strawberry.type(name="Tier", description="A tier: qualifying spend, multiplier, benefits.")
class TierNode:
    code: str
    name: str
    rank: int
    threshold: Decimal = strawberry.field(
        description="Qualifying spend (CNY, purchases minus refunds) over the rolling window."
    )
    multiplier: Decimal
    benefits: list[str]

    @classmethod
    def of(cls, d: TierDef) -> TierNode:
        return cls(
            code=d.code,
            name=d.name,
            rank=d.rank,
            threshold=d.threshold,
            multiplier=d.multiplier,
            benefits=list(d.benefits),
        )


@strawberry.type(name="TierChange")
class TierChangeNode:
    from_tier: str | None
    to_tier: str
    reason: str = strawberry.field(description="upgrade, review or inactivity.")
    qualifying_spend: Decimal | None
    created_at: datetime | None

    @classmethod
    def of_decision(cls, decision: Decision) -> TierChangeNode:
        return cls(
            from_tier=None,
            to_tier=decision.to.code,
            reason=decision.reason.value,
            qualifying_spend=None,
            created_at=None,
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
    qualifying_spend: Decimal
    next_tier: TierNode | None
    spend_to_next_tier: Decimal = strawberry.field(description="0 at the top tier.")


async def member_tier(info: Info, member_id: int) -> MemberTierNode | None:
    rt = info.context.runtime
    progress = await usecases.tier_progress(rt, member_id)
    if progress is None:
        return None
    current = (await usecases.member_tiers_of(rt, [member_id])).get(member_id)
    return MemberTierNode(
        tier=TierNode.of(progress.current),
        since=current.since if current else None,
        review_at=current.review_at if current else None,
        qualifying_spend=progress.qualifying_spend,
        next_tier=None if progress.next is None else TierNode.of(progress.next),
        spend_to_next_tier=progress.spend_to_next,
    )


async def member_tier_history(info: Info, member_id: int) -> list[TierChangeNode]:
    rows = await usecases.tier_history(info.context.runtime, member_id)
    return [TierChangeNode.of_row(row) for row in rows]


@strawberry.type
class TierQueries:
    @described_field("The programme's tiers, lowest first.")
    async def tiers(self, info: Info) -> list[TierNode]:
        info.context.require("tiers")
        return [TierNode.of(d) for d in await usecases.list_tiers(info.context.runtime)]
