"""Rebuilding from the ledger: the issue's 10,000 members, and rebuilds racing the projector."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from app.clock import FrozenClock
from app.leaderboards.boards import PeriodKind, markers_key, period_of
from app.leaderboards.projector import apply_pending, events_lost_after, read_cursor
from app.leaderboards.rebuild import rebuild
from app.leaderboards.runner import run_projector
from app.runtime import Runtime
from tests.eventually import eventually
from tests.leaderboards.conftest import (
    BOARD,
    TZ,
    board_rows,
    bulk_earnings,
    earn,
    new_member,
    oracle_rows,
    period,
    reverse,
    scores,
)
from tests.outbox import purge_outbox, roll_back_an_event


async def test_ten_thousand_members_board_equals_the_ledger_and_survives_flushall(
    runtime: Runtime, redis: Redis, clock: FrozenClock
) -> None:
    started = time.monotonic()
    now = clock.now()  # 2026-11-23 10:00 Shanghai
    await bulk_earnings(
        runtime, 10_000, start=datetime(2026, 10, 20, tzinfo=UTC), end=now - timedelta(hours=1)
    )
    # A few claw-backs through the ledger itself, some of earnings in October.
    async with runtime.engine.connect() as conn:
        from sqlalchemy import text

        picked = (
            await conn.execute(
                text("SELECT id, amount FROM entries WHERE id % 500 = 0 ORDER BY id")
            )
        ).all()
    for entry_id, amount in picked:
        await reverse(runtime, entry_id, amount // 2)
    loaded = time.monotonic()

    report = await apply_pending(runtime)
    assert report.events > 20_000
    projected = time.monotonic()

    current = [period_of(kind, now, TZ) for kind in PeriodKind]
    boards = {}
    for p in [*current, period("monthly", "2026-10")]:
        rows = await board_rows(redis, p)
        assert rows == await oracle_rows(runtime, p), p.field
        boards[p] = rows
    assert len(boards[period("all-time")]) == 10_000
    month = boards[period_of(PeriodKind.MONTHLY, now, TZ)]
    points = [r.points for r in month]
    assert len(set(points)) < len(points)  # ties were there to break

    await redis.flushdb()
    rebuilt = await rebuild(runtime, BOARD)
    assert rebuilt.periods["all-time:all"] == 10_000
    for p in current:
        assert await board_rows(redis, p) == boards[p], p.field
    # ...and the projector carries on from the rebuild's horizon without counting twice.
    member = month[-1].member_id
    await earn(runtime, member, 1_000_000)
    await apply_pending(runtime)
    for p in current:
        rows = await board_rows(redis, p)
        assert rows == await oracle_rows(runtime, p), p.field
        assert rows[0].member_id == member
    finished = time.monotonic()
    print(
        f"\nload {loaded - started:.1f}s, project {projected - loaded:.1f}s, "
        f"check+rebuild {finished - projected:.1f}s"
    )


async def test_rebuild_while_the_projector_is_behind_counts_nothing_twice(
    runtime: Runtime, redis: Redis
) -> None:
    a, b = await new_member(runtime), await new_member(runtime)
    await earn(runtime, a, 10)
    await apply_pending(runtime)  # the cursor is here
    await earn(runtime, a, 5)
    await earn(runtime, b, 7)
    # Only the monthly set is rebuilt: it now holds events the cursor has not reached.
    await rebuild(runtime, BOARD, [PeriodKind.MONTHLY])
    month = period_of(PeriodKind.MONTHLY, runtime.clock.now(), TZ)
    assert await scores(redis, month) == {a: 15, b: 7}
    assert await scores(redis, period("all-time")) == {a: 10}
    assert await redis.hgetall(markers_key(BOARD))
    await apply_pending(runtime)
    assert await scores(redis, month) == {a: 15, b: 7}
    assert await scores(redis, period("all-time")) == {a: 15, b: 7}
    assert await redis.hgetall(markers_key(BOARD)) == {}  # the cursor passed the marker


async def test_rebuild_while_the_projector_is_ahead_catches_up(
    runtime: Runtime, redis: Redis
) -> None:
    a = await new_member(runtime)
    await earn(runtime, a, 10)
    await apply_pending(runtime)
    # Simulate a projector that advanced past the rebuild's horizon: run both at once, many times.
    for amount in range(1, 8):
        await earn(runtime, a, amount)
        await asyncio.gather(rebuild(runtime, BOARD), apply_pending(runtime, batch_size=1))
    await apply_pending(runtime)
    total = 10 + sum(range(1, 8))
    for kind in PeriodKind:
        p = period_of(kind, runtime.clock.now(), TZ)
        assert await scores(redis, p) == {a: total}, p.field


async def test_rebuild_matches_reversals_across_a_month_boundary(
    runtime: Runtime, redis: Redis, clock: FrozenClock
) -> None:
    a, b = await new_member(runtime), await new_member(runtime)
    clock.set(datetime(2026, 11, 30, 15, 59, tzinfo=UTC))  # 23:59 in Shanghai
    november = await earn(runtime, a, 100)
    await earn(runtime, b, 80)
    clock.set(datetime(2026, 11, 30, 16, 1, tzinfo=UTC))  # 00:01 on 1 December in Shanghai
    await earn(runtime, b, 30)
    await reverse(runtime, november, 30)  # refunded in December: November's total drops
    await apply_pending(runtime)
    nov, dec = period("monthly", "2026-11"), period("monthly", "2026-12")
    assert await scores(redis, nov) == {a: 70, b: 80}
    assert await scores(redis, dec) == {b: 30}
    projected = {p: await board_rows(redis, p) for p in (nov, dec)}
    await redis.flushdb()
    await rebuild(runtime, BOARD, [PeriodKind.MONTHLY], at=datetime(2026, 11, 15, tzinfo=UTC))
    await rebuild(runtime, BOARD, [PeriodKind.MONTHLY])
    for p in (nov, dec):
        assert await board_rows(redis, p) == projected[p] == await oracle_rows(runtime, p)


async def test_run_projector_rebuilds_a_lost_board_then_follows(
    runtime: Runtime, redis: Redis
) -> None:
    a = await new_member(runtime)
    await earn(runtime, a, 10)
    stop, wake = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_projector(runtime, stop, wake))
    try:
        await eventually(lambda: _all_time_is(redis, {a: 10}))
        await earn(runtime, a, 5)
        wake.set()
        await eventually(lambda: _all_time_is(redis, {a: 15}))
        await redis.flushdb()  # Redis lost everything: the loop rebuilds from the ledger
        await eventually(lambda: _all_time_is(redis, {a: 15}))
        assert await read_cursor(redis, BOARD) is not None
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def _all_time_is(redis: Redis, expected: dict[int, int]) -> bool:
    return await scores(redis, period("all-time")) == expected


async def test_run_projector_rebuilds_when_unapplied_events_were_purged(
    runtime: Runtime, redis: Redis
) -> None:
    a = await new_member(runtime)
    await earn(runtime, a, 10)
    await apply_pending(runtime)
    cursor = await read_cursor(redis, BOARD)
    assert cursor is not None
    await earn(runtime, a, 5)
    await earn(runtime, a, 7)
    assert await purge_outbox(runtime) > 0  # the relay's retention ran meanwhile
    await earn(runtime, a, 1)
    assert await events_lost_after(runtime, cursor)
    stop = asyncio.Event()
    task = asyncio.create_task(run_projector(runtime, stop))
    try:
        await eventually(lambda: _all_time_is(redis, {a: 23}))
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert not await events_lost_after(runtime, await read_cursor(redis, BOARD) or 0)


async def test_a_rolled_back_id_is_no_purge(runtime: Runtime, redis: Redis) -> None:
    """A gap at the head of the outbox (a fresh one, then one just purged) that a rolled-back
    transaction left is not a purge: the projector applies on, it does not rebuild."""
    a = await new_member(runtime)
    await apply_pending(runtime)
    cursor = await read_cursor(redis, BOARD)
    assert cursor is not None
    await roll_back_an_event(runtime)  # the oldest id left is now beyond cursor + 1
    await earn(runtime, a, 10)
    assert not await events_lost_after(runtime, cursor)
    await apply_pending(runtime)
    cursor = await read_cursor(redis, BOARD)
    assert cursor is not None
    assert await purge_outbox(runtime) > 0  # everything applied, then purged
    assert not await events_lost_after(runtime, cursor)
    await roll_back_an_event(runtime)
    await earn(runtime, a, 5)
    assert not await events_lost_after(runtime, cursor)
    assert await events_lost_after(runtime, cursor - 1)  # a cursor the purge did pass
