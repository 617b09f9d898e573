"""Reading a board as the query and the subscription ask for it.

Any authenticated caller may read a board (it shows member ids, ranks and points, nothing
else). Asking for a member's own standing (``memberId``) is checked like reading that member:
a member only itself, a partner only members of its channel.
"""

from __future__ import annotations

from dataclasses import dataclass

import strawberry

from app.auth.principal import PrincipalKind
from app.errors import DomainError, ErrorCode
from app.graphql.core.context import Context
from app.graphql.core.inputs import parse_id
from app.graphql.leaderboards.types import LeaderboardNode, StandingNode
from app.leaderboards import service

LEADERBOARD = "leaderboard"


DEFAULT_BOARD = "points-earned"


DEFAULT_PERIOD = "monthly"


@dataclass(frozen=True)
class BoardRequest:
    board: str
    period: str
    top: int
    member_id: int | None
    neighbours: int
    period_id: str | None


async def authorise(ctx: Context, request: BoardRequest) -> None:
    ctx.require(LEADERBOARD)
    widget = ctx.principal
    if widget.kind is PrincipalKind.WIDGET and (
        request.board != widget.board or request.member_id is not None
    ):
        raise DomainError(ErrorCode.FORBIDDEN, f"this widget key reads the board {widget.board}")
    if request.member_id is not None:
        await ctx.readable_member(LEADERBOARD, request.member_id)


async def read_board(ctx: Context, request: BoardRequest) -> LeaderboardNode:
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


def board_request(
    board: str,
    period: str,
    top: int,
    member_id: strawberry.ID | None,
    neighbours: int,
    period_id: str | None,
) -> BoardRequest:
    member = None if member_id is None else parse_id(str(member_id), "memberId")
    return BoardRequest(board, period, top, member, neighbours, period_id)
