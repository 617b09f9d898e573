"""A member's tier and tier history: the Member type's ``tier`` and ``tierHistory`` fields
(the ``member`` read operation, checked there).
"""

from __future__ import annotations

from app.graphql.core.context import Info
from app.graphql.tiers.enums import QualifyingMeasure
from app.graphql.tiers.types import (
    MemberTierNode,
    TierChangeNode,
    TierNode,
    TierTaskProgressNode,
)
from app.tiers import usecases


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
        qualifying_measure=QualifyingMeasure(rt.settings.tier_qualifying_measure),
        qualifying_spend=progress.qualifying_spend,
        next_tier=None if progress.next is None else TierNode.of(progress.next),
        spend_to_next_tier=progress.spend_to_next,
        tasks=[TierTaskProgressNode.of(t) for t in progress.tasks],
    )


async def member_tier_history(info: Info, member_id: int) -> list[TierChangeNode]:
    rows = await usecases.tier_history(info.context.runtime, member_id)
    return [TierChangeNode.of_row(row) for row in rows]
