"""Leaderboards: a member's place on a board, a board in one period."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.graphql.core.context import Info
from app.graphql.core.fields import described_field
from app.leaderboards import service
from app.leaderboards.masking import NameMask, masked_name


@strawberry.type(name="Standing", description="A member's place on a board.")
class StandingNode:
    rank: int
    member_id: strawberry.ID
    points: int
    reached_at: datetime = strawberry.field(
        description="When the member reached these points: the earlier ranks first on a tie."
    )

    @described_field(
        "The member's name as the programme shows it on boards: masked "
        "(张*明 by default, JIFEN_LEADERBOARD_NAMES)."
    )
    async def display_name(self, info: Info) -> str:
        ctx = info.context
        member = await ctx.loaders.member.load(int(self.member_id))
        name = member.name if member is not None else None
        return masked_name(
            name, int(self.member_id), NameMask(ctx.runtime.settings.leaderboard_names)
        )

    @classmethod
    def of(cls, standing: service.Standing) -> StandingNode:
        return cls(
            rank=standing.rank,
            member_id=strawberry.ID(str(standing.member_id)),
            points=standing.points,
            reached_at=standing.reached_at,
        )


@strawberry.type(name="Leaderboard", description="A board in one period, best first.")
class LeaderboardNode:
    board: str
    period: str = strawberry.field(description="daily, weekly, monthly or all-time.")
    period_id: str = strawberry.field(description="e.g. 2026-11-23, 2026-W48, 2026-11, all.")
    size: int = strawberry.field(description="How many members have points on the board.")
    top: list[StandingNode]
    member: StandingNode | None = strawberry.field(
        description="The standing of the `memberId` asked for; null when not on the board."
    )
    neighbours: list[StandingNode] = strawberry.field(
        description="Members just above and below `memberId` (it included)."
    )
