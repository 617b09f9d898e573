"""A board, live: re-read when the projector says it changed, at most
``1 / LEADERBOARD_MIN_INTERVAL`` frames a second however busy the board is, and only sent when
what the client sees changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import strawberry

from app.events.broadcast import SlowSubscriber
from app.events.stream import changes
from app.graphql.core.context import Info
from app.graphql.core.fields import described_subscription
from app.graphql.core.subscriptions import SlowConsumerError, hub_of
from app.graphql.leaderboards.resolvers import (
    DEFAULT_BOARD,
    DEFAULT_PERIOD,
    authorise,
    board_request,
    read_board,
)
from app.graphql.leaderboards.types import LeaderboardNode
from app.leaderboards import service
from app.leaderboards.boards import leaderboard_topic

LEADERBOARD_MIN_INTERVAL = 0.25  # seconds between two frames of one subscription


@strawberry.type
class LeaderboardSubscriptions:
    @described_subscription(
        "A board's current period now, then each time it changes (a few frames a second at most)."
    )
    async def leaderboard(
        self,
        info: Info,
        board: str = DEFAULT_BOARD,
        period: str = DEFAULT_PERIOD,
        top: int = 10,
        member_id: strawberry.ID | None = None,
        neighbours: int = 0,
    ) -> AsyncGenerator[LeaderboardNode, None]:
        ctx = info.context
        request = board_request(board, period, top, member_id, neighbours, None)
        ctx.renew_loaders()
        await authorise(ctx, request)
        where = service.resolve(ctx.runtime, board, period)
        topic = leaderboard_topic(where.board.name, where.period)
        sent: LeaderboardNode | None = None
        try:
            async for _ in changes(hub_of(ctx), topic):
                ctx.renew_loaders()  # names read afresh for each frame
                frame = await read_board(ctx, request)
                if frame != sent:
                    sent = frame
                    yield frame
                # Notices arriving meanwhile are coalesced into the next read.
                await asyncio.sleep(LEADERBOARD_MIN_INTERVAL)
        except SlowSubscriber:
            raise SlowConsumerError(None) from None
