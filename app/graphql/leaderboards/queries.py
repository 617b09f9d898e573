"""A board's top N and a member's own rank."""

from __future__ import annotations

import strawberry

from app.graphql.core.context import Info
from app.graphql.core.fields import described_field
from app.graphql.leaderboards.resolvers import (
    DEFAULT_BOARD,
    DEFAULT_PERIOD,
    authorise,
    board_request,
    read_board,
)
from app.graphql.leaderboards.types import LeaderboardNode


@strawberry.type
class LeaderboardQueries:
    @described_field("A board's top N (1..100) and, for `memberId`, its rank and neighbours.")
    async def leaderboard(
        self,
        info: Info,
        board: str = DEFAULT_BOARD,
        period: str = DEFAULT_PERIOD,
        top: int = 10,
        member_id: strawberry.ID | None = None,
        neighbours: int = 0,
        period_id: str | None = None,
    ) -> LeaderboardNode:
        request = board_request(board, period, top, member_id, neighbours, period_id)
        await authorise(info.context, request)
        return await read_board(info.context, request)
