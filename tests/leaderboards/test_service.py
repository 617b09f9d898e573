"""Queries: top N, a member's standing, neighbours, validation."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from app.errors import DomainError, ErrorCode
from app.leaderboards import service
from app.leaderboards.projector import apply_pending
from app.runtime import Runtime
from tests.leaderboards.conftest import BOARD, earn, new_member


@pytest.fixture
async def ranked(runtime: Runtime) -> list[int]:
    """Ten members with 10, 20, ... 100 points: the last one ranks first."""
    members = [await new_member(runtime) for _ in range(10)]
    for n, member in enumerate(members, start=1):
        await earn(runtime, member, 10 * n)
    await apply_pending(runtime)
    return members


async def test_top_n(runtime: Runtime, ranked: list[int]) -> None:
    top = await service.top(runtime, BOARD, "monthly", 3)
    assert [(s.rank, s.member_id, s.points) for s in top] == [
        (1, ranked[9], 100),
        (2, ranked[8], 90),
        (3, ranked[7], 80),
    ]
    assert top[0].reached_at == runtime.clock.now()
    assert len(await service.top(runtime, BOARD, "all-time", 100)) == 10
    assert await service.board_size(runtime, BOARD, "daily") == 10


async def test_a_member_standing_and_neighbours(runtime: Runtime, ranked: list[int]) -> None:
    standing = await service.member_standing(runtime, BOARD, "weekly", ranked[4])
    assert standing is not None
    assert (standing.rank, standing.points) == (6, 50)
    around = await service.neighbours(runtime, BOARD, "weekly", ranked[4], 2)
    assert [(s.rank, s.points) for s in around] == [(4, 70), (5, 60), (6, 50), (7, 40), (8, 30)]
    at_top = await service.neighbours(runtime, BOARD, "weekly", ranked[9], 2)
    assert [s.rank for s in at_top] == [1, 2, 3]
    at_bottom = await service.neighbours(runtime, BOARD, "weekly", ranked[0], 2)
    assert [s.rank for s in at_bottom] == [8, 9, 10]


async def test_members_without_points_have_no_standing(runtime: Runtime, ranked: list[int]) -> None:
    outsider = await new_member(runtime)
    assert await service.member_standing(runtime, BOARD, "monthly", outsider) is None
    assert await service.neighbours(runtime, BOARD, "monthly", outsider, 3) == []


async def test_past_periods_by_id(runtime: Runtime, ranked: list[int]) -> None:
    assert await service.top(runtime, BOARD, "monthly", 5, period_id="2026-10") == []
    top = await service.top(runtime, BOARD, "monthly", 1, period_id="2026-11")
    assert top[0].member_id == ranked[9]


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda rt: service.top(rt, "nope", "monthly", 10), ErrorCode.NOT_FOUND),
        (lambda rt: service.top(rt, BOARD, "monthly", 101), ErrorCode.INVALID_INPUT),
        (lambda rt: service.top(rt, BOARD, "monthly", 10_000), ErrorCode.INVALID_INPUT),
        (lambda rt: service.top(rt, BOARD, "monthly", 0), ErrorCode.INVALID_INPUT),
        (lambda rt: service.top(rt, BOARD, "yearly", 10), ErrorCode.INVALID_INPUT),
        (lambda rt: service.top(rt, BOARD, "monthly", 10, "2026-13"), ErrorCode.INVALID_INPUT),
        (lambda rt: service.neighbours(rt, BOARD, "daily", 1, 51), ErrorCode.INVALID_INPUT),
        (lambda rt: service.member_standing(rt, "nope", "daily", 1), ErrorCode.NOT_FOUND),
    ],
)
async def test_bad_input(runtime: Runtime, redis: Redis, call, code: ErrorCode) -> None:
    with pytest.raises(DomainError) as raised:
        await call(runtime)
    assert raised.value.code is code


def test_boards_are_listed() -> None:
    assert [b.name for b in service.list_boards()] == [BOARD]
