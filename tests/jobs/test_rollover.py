"""The leaderboard roll-over job: each period that just ended is closed once, with its final top."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from app.clock import FrozenClock
from app.jobs import usecases as jobs
from app.leaderboards.projector import apply_pending
from app.runtime import Runtime
from tests.ledger.test_service import earn, new_member


async def test_periods_that_just_ended_are_announced_once_with_their_final_top(
    runtime: Runtime, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 11, 30, 2, 0, tzinfo=UTC))  # Monday Nov 30, 10:00 in Shanghai
    first = await new_member(runtime, "first")
    second = await new_member(runtime, "second")
    await earn(runtime, second, 40)
    await earn(runtime, first, 90)
    await apply_pending(runtime)

    clock.set(datetime(2026, 11, 30, 16, 10, tzinfo=UTC))  # Dec 1, 00:10 in Shanghai
    run = await jobs.run_now(runtime, "leaderboard-rollover")
    # The day Nov 30 and the month 2026-11 just ended; so did ISO week 48 (a day earlier).
    assert run.result == {"closed": 3}
    assert (await jobs.run_now(runtime, "leaderboard-rollover")).result == {"closed": 0}

    async with runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT topic, payload FROM events WHERE type = 'leaderboard.period_closed' "
                    "ORDER BY topic"
                )
            )
        ).all()
    by_topic = {row.topic: row.payload for row in rows}
    assert set(by_topic) == {
        "leaderboard:points-earned:daily:2026-11-30",
        "leaderboard:points-earned:monthly:2026-11",
        "leaderboard:points-earned:weekly:2026-W48",
    }
    month = by_topic["leaderboard:points-earned:monthly:2026-11"]
    assert month["next_period_id"] == "2026-12"
    assert [(t["member_id"], t["points"], t["rank"]) for t in month["top"]] == [
        (first, 90, 1),
        (second, 40, 2),
    ]
    assert by_topic["leaderboard:points-earned:weekly:2026-W48"]["top"] == []
