"""Reading boards: the top N, a member's rank and score, and their neighbours.

Every read is one Redis command or one Lua script, so it sees one instant of the board even
while the projector writes. Boards and periods are validated: an unknown board is NOT_FOUND, a
bad period or a ``top`` above 100 is INVALID_INPUT.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.errors import invalid
from app.leaderboards import scripts
from app.leaderboards.boards import (
    BOARDS,
    MAX_NEIGHBOURS,
    MAX_TOP,
    Board,
    Period,
    board_key,
    decode_element,
    get_board,
    index_key,
    parse_kind,
    parse_period,
    period_of,
)
from app.runtime import Runtime


@dataclass(frozen=True)
class Standing:
    """A member's place on a board: 1-based rank, points, and when they reached them."""

    rank: int
    member_id: int
    points: int
    reached_at: datetime


@dataclass(frozen=True)
class BoardPeriod:
    board: Board
    period: Period


def list_boards() -> list[Board]:
    return list(BOARDS.values())


def resolve(rt: Runtime, board: str, period: str, period_id: str | None = None) -> BoardPeriod:
    """Validate a board name, a period kind (daily, weekly, monthly, all-time) and optionally a
    period id (``2026-11``); without an id, the current period by the runtime's clock."""
    found = get_board(board)
    kind = parse_kind(period)
    tz = rt.settings.timezone
    if period_id is None:
        return BoardPeriod(found, period_of(kind, rt.clock.now(), tz))
    return BoardPeriod(found, parse_period(kind, period_id, tz))


def _standings(first_rank: int, flat: list[Any]) -> list[Standing]:
    out = []
    for offset in range(0, len(flat), 2):
        member_id, reached_at = decode_element(flat[offset])
        rank = first_rank + offset // 2 + 1
        out.append(Standing(rank, member_id, int(float(flat[offset + 1])), reached_at))
    return out


async def top(
    rt: Runtime, board: str, period: str, n: int = 10, period_id: str | None = None
) -> list[Standing]:
    """The first ``n`` (1..100) members of the board, best first."""
    if not 1 <= n <= MAX_TOP:
        raise invalid(f"top must be between 1 and {MAX_TOP}", "top")
    where = resolve(rt, board, period, period_id)
    key = board_key(where.board.name, where.period)
    rows = await rt.redis.zrevrange(key, 0, n - 1, withscores=True)
    return _standings(0, [value for row in rows for value in row])


async def _around(
    rt: Runtime, where: BoardPeriod, member_id: int, k: int
) -> tuple[int, list[Standing]] | None:
    keys = [board_key(where.board.name, where.period), index_key(where.board.name, where.period)]
    result = await rt.redis.register_script(scripts.STANDING)(keys=keys, args=[member_id, k])
    if not result:
        return None
    rank0, first = int(result[0]), int(result[1])
    return rank0, _standings(first, list(result[2:]))


async def member_standing(
    rt: Runtime, board: str, period: str, member_id: int, period_id: str | None = None
) -> Standing | None:
    """The member's rank (1-based) and points; None when they have no points on the board."""
    found = await _around(rt, resolve(rt, board, period, period_id), member_id, 0)
    if found is None:
        return None
    return found[1][0]


async def neighbours(
    rt: Runtime, board: str, period: str, member_id: int, k: int = 5, period_id: str | None = None
) -> list[Standing]:
    """Up to ``k`` (0..50) members above the member, the member, and up to ``k`` below.

    Empty when the member is not on the board.
    """
    if not 0 <= k <= MAX_NEIGHBOURS:
        raise invalid(f"k must be between 0 and {MAX_NEIGHBOURS}", "k")
    found = await _around(rt, resolve(rt, board, period, period_id), member_id, k)
    return [] if found is None else found[1]


async def board_size(rt: Runtime, board: str, period: str, period_id: str | None = None) -> int:
    """How many members have points on the board."""
    where = resolve(rt, board, period, period_id)
    return int(await rt.redis.zcard(board_key(where.board.name, where.period)))
