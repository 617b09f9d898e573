"""The projector against real PostgreSQL and Redis: what counts, exactly once, the horizon."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from redis.asyncio import Redis

from app.clock import FrozenClock
from app.db import unit_of_work
from app.events.broadcast import RESYNC, EventHub
from app.events.horizon import safe_horizon
from app.leaderboards.boards import (
    POINTS_EARNED,
    PeriodKind,
    cursor_key,
    leaderboard_topic,
    period_of,
)
from app.leaderboards.projector import apply_pending, read_cursor
from app.ledger.commands import Earn
from app.ledger.service import Ledger, LedgerPolicy
from app.runtime import Runtime
from tests.leaderboards.conftest import (
    STAFF,
    TZ,
    adjust,
    board_rows,
    earn,
    new_member,
    oracle_rows,
    period,
    reverse,
    scores,
    spend,
)

SH = ZoneInfo(TZ)


async def test_earnings_count_reversals_of_earnings_subtract_the_rest_does_not(
    runtime: Runtime, redis: Redis
) -> None:
    a, b = await new_member(runtime), await new_member(runtime)
    first = await earn(runtime, a, 100)
    await earn(runtime, b, 70)
    await adjust(runtime, b, 1_000)  # not earned
    await spend(runtime, b, 30)  # spending does not lower "earned"
    await reverse(runtime, first, 40)  # a claw-back of an earning does
    await apply_pending(runtime)
    month = period_of(PeriodKind.MONTHLY, runtime.clock.now(), TZ)
    assert await scores(redis, month) == {a: 60, b: 70}
    assert await scores(redis, period("all-time")) == {a: 60, b: 70}
    assert await board_rows(redis, month) == await oracle_rows(runtime, month)


async def test_fully_reversed_members_leave_the_board(runtime: Runtime, redis: Redis) -> None:
    a = await new_member(runtime)
    entry = await earn(runtime, a, 50)
    await apply_pending(runtime)
    await reverse(runtime, entry)
    await apply_pending(runtime)
    assert await scores(redis, period("all-time")) == {}


async def test_ties_go_to_who_got_there_first(
    runtime: Runtime, redis: Redis, clock: FrozenClock
) -> None:
    a, b, c = [await new_member(runtime) for _ in range(3)]
    await earn(runtime, b, 100)  # b reaches 100 first
    clock.advance(timedelta(seconds=1))
    await earn(runtime, a, 60)
    clock.advance(timedelta(seconds=1))
    await earn(runtime, a, 40)  # a reaches 100 later
    clock.advance(timedelta(seconds=1))
    await earn(runtime, c, 100)  # c the same total, later still
    await apply_pending(runtime)
    rows = await board_rows(redis, period("all-time"))
    assert [(r.member_id, r.points) for r in rows] == [(b, 100), (a, 100), (c, 100)]
    # Same total at the same instant: the smaller member id first.
    d, e = await new_member(runtime), await new_member(runtime)
    await earn(runtime, e, 150)
    await earn(runtime, d, 150)
    await apply_pending(runtime)
    rows = await board_rows(redis, period("all-time"))
    assert [r.member_id for r in rows[:2]] == [d, e]


async def test_applying_twice_changes_nothing(runtime: Runtime, redis: Redis) -> None:
    members = [await new_member(runtime) for _ in range(5)]
    for n, member in enumerate(members):
        await earn(runtime, member, 10 * (n + 1))
    first = await apply_pending(runtime)
    before = await board_rows(redis, period("all-time"))
    # Someone replays from an old cursor: the script refuses events at or below the cursor.
    cursor = await read_cursor(redis, "points-earned")
    second = await apply_pending(runtime)
    assert first.applied == 5 * 4 and second.applied == 0
    assert await read_cursor(redis, "points-earned") == cursor
    assert await board_rows(redis, period("all-time")) == before


async def test_concurrent_projectors_apply_each_event_once(runtime: Runtime, redis: Redis) -> None:
    members = [await new_member(runtime) for _ in range(20)]
    for round_ in range(3):
        for n, member in enumerate(members):
            await earn(runtime, member, n + 1 + round_)
    # Two processes' worth of projectors, small batches so that they interleave.
    reports = await asyncio.gather(
        apply_pending(runtime, batch_size=7),
        apply_pending(runtime, batch_size=5),
        apply_pending(runtime, batch_size=3),
    )
    assert sum(r.applied for r in reports) == 60 * 4
    expected = {m: sum(n + 1 + r for r in range(3)) for n, m in enumerate(members)}
    assert await scores(redis, period("all-time")) == expected
    month = period_of(PeriodKind.MONTHLY, runtime.clock.now(), TZ)
    assert await board_rows(redis, month) == await oracle_rows(runtime, month)


async def test_an_event_committed_late_with_a_smaller_id_is_not_skipped(
    runtime: Runtime, redis: Redis
) -> None:
    slow, fast = await new_member(runtime), await new_member(runtime)
    impatient = Runtime(
        settings=runtime.settings.model_copy(update={"leaderboard_horizon_timeout": 0.3}),
        engine=runtime.engine,
        redis=runtime.redis,
        clock=runtime.clock,
    )
    policy = LedgerPolicy.from_settings(runtime.settings)
    async with unit_of_work(runtime.engine) as conn:
        # This transaction takes its event id first and commits last.
        await Ledger(conn, runtime.clock, policy).earn(
            Earn(member_id=slow, amount=10, reason="slow"), STAFF
        )
        await earn(runtime, fast, 20)  # committed meanwhile, with a larger event id
        report = await apply_pending(impatient)
        assert report.applied == 0  # it waited for the running transaction, then gave up
        assert await read_cursor(redis, "points-earned") is None
    await apply_pending(runtime)
    assert await scores(redis, period("all-time")) == {slow: 10, fast: 20}


async def test_safe_horizon_is_the_last_event_when_nothing_runs(runtime: Runtime) -> None:
    assert await safe_horizon(runtime.engine, wait_seconds=1) == 0
    member = await new_member(runtime)
    await earn(runtime, member, 5)
    async with runtime.engine.connect() as conn:
        from sqlalchemy import text

        top = await conn.scalar(text("SELECT max(id) FROM events"))
    assert await safe_horizon(runtime.engine, wait_seconds=1) == top


async def test_business_day_and_month_boundaries(
    runtime: Runtime, redis: Redis, clock: FrozenClock
) -> None:
    a = await new_member(runtime)
    clock.set(datetime(2026, 11, 30, 23, 59, tzinfo=SH))
    await earn(runtime, a, 5)
    clock.set(datetime(2026, 12, 1, 0, 1, tzinfo=SH))
    await earn(runtime, a, 7)
    await apply_pending(runtime)
    assert await scores(redis, period("daily", "2026-11-30")) == {a: 5}
    assert await scores(redis, period("daily", "2026-12-01")) == {a: 7}
    assert await scores(redis, period("monthly", "2026-11")) == {a: 5}
    assert await scores(redis, period("monthly", "2026-12")) == {a: 7}
    assert await scores(redis, period("weekly", "2026-W49")) == {a: 12}
    # 23:59 and 00:01 Shanghai are 15:59 and 16:01 UTC of the same UTC day
    assert clock.now().astimezone(UTC).date().isoformat() == "2026-11-30"


async def test_change_notices_are_published(runtime: Runtime) -> None:
    """Heard by a hub as the API processes have one (sharded channels on a Redis Cluster)."""
    member = await new_member(runtime)
    month = period_of(PeriodKind.MONTHLY, runtime.clock.now(), TZ)
    settings = runtime.settings
    hub = EventHub.from_settings(settings.redis_url or "", settings.event_channel_prefix, 10)
    await hub.connect()
    try:
        async with hub.subscribe(leaderboard_topic(POINTS_EARNED.name, month)) as subscriber:
            await earn(runtime, member, 5)
            await apply_pending(runtime)
            async with asyncio.timeout(5):
                message = RESYNC
                while message == RESYNC:  # a marker if the hub connected after subscribing
                    message = (await subscriber.get()).message
        assert '"type": "leaderboard.changed"' in message
    finally:
        await hub.disconnect()


async def test_missing_cursor_replays_what_the_outbox_holds(runtime: Runtime, redis: Redis) -> None:
    member = await new_member(runtime)
    await earn(runtime, member, 5)
    await apply_pending(runtime)
    await redis.delete(cursor_key("points-earned"))
    await redis.delete(*[key async for key in redis.scan_iter("lb:*")])  # every master
    await apply_pending(runtime)
    assert await scores(redis, period("all-time")) == {member: 5}
