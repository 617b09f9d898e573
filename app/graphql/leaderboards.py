"""Leaderboards: the top N of a board and period, a member's own rank, live pushes.

Any authenticated caller may read a board (it shows member ids, ranks and points, nothing
else). Asking for a member's own standing (``memberId``) is checked like reading that member:
a member only itself, a partner only members of its channel. The live ``leaderboard``
subscription re-reads the board when the projector says it changed, at most
``1 / LEADERBOARD_MIN_INTERVAL`` frames a second however busy the board is, and only sends a
frame when what the client sees changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import datetime

import strawberry

from app.events.broadcast import SlowSubscriber
from app.events.stream import changes
from app.graphql.context import Context, Info
from app.graphql.fields import described_field, described_subscription
from app.graphql.pagination import parse_id
from app.graphql.subscriptions import SlowConsumerError, hub_of
from app.leaderboards import service
from app.leaderboards.boards import leaderboard_topic

LEADERBOARD = "leaderboard"
DEFAULT_BOARD = "points-earned"
DEFAULT_PERIOD = "monthly"
LEADERBOARD_MIN_INTERVAL = 0.25  # seconds between two frames of one subscription


@strawberry.type(name="Standing", description="A member's place on a board.")
class StandingNode:
    rank: int
    member_id: strawberry.ID
    points: int
    reached_at: datetime = strawberry.field(
        description="When the member reached these points: the earlier ranks first on a tie."
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


@dataclass(frozen=True)
class _BoardRequest:
    board: str
    period: str
    top: int
    member_id: int | None
    neighbours: int
    period_id: str | None


async def _authorise(ctx: Context, request: _BoardRequest) -> None:
    ctx.require(LEADERBOARD)
    if request.member_id is not None:
        await ctx.readable_member(LEADERBOARD, request.member_id)


async def _read(ctx: Context, request: _BoardRequest) -> LeaderboardNode:
    rt = ctx.runtime
    where = service.resolve(rt, request.board, request.period, request.period_id)
    period_id = where.period.id
    args = (rt, request.board, request.period)
    top = await service.top(*args, request.top, period_id)
    member = around = None
    if request.member_id is not None:
        member = await service.member_standing(*args, request.member_id, period_id)
        if request.neighbours:
            around = await service.neighbours(
                *args, request.member_id, request.neighbours, period_id
            )
    return LeaderboardNode(
        board=where.board.name,
        period=where.period.kind.value,
        period_id=period_id,
        size=await service.board_size(*args, period_id),
        top=[StandingNode.of(s) for s in top],
        member=None if member is None else StandingNode.of(member),
        neighbours=[StandingNode.of(s) for s in around or []],
    )


def _request(
    board: str,
    period: str,
    top: int,
    member_id: strawberry.ID | None,
    neighbours: int,
    period_id: str | None,
) -> _BoardRequest:
    member = None if member_id is None else parse_id(str(member_id), "memberId")
    return _BoardRequest(board, period, top, member, neighbours, period_id)


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
        request = _request(board, period, top, member_id, neighbours, period_id)
        await _authorise(info.context, request)
        return await _read(info.context, request)


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
        request = _request(board, period, top, member_id, neighbours, None)
        ctx.renew_loaders()
        await _authorise(ctx, request)
        where = service.resolve(ctx.runtime, board, period)
        topic = leaderboard_topic(where.board.name, where.period)
        sent: LeaderboardNode | None = None
        try:
            async for _ in changes(hub_of(ctx), topic):
                frame = await _read(ctx, request)
                if frame != sent:
                    sent = frame
                    yield frame
                # Notices arriving meanwhile are coalesced into the next read.
                await asyncio.sleep(LEADERBOARD_MIN_INTERVAL)
        except SlowSubscriber:
            raise SlowConsumerError(None) from None
