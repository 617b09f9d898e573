"""Jobs that drive the core domains: hold time-outs, tier reviews, the expiry sweep, the
leaderboard period roll-over."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from app.db import unit_of_work
from app.events.outbox import append_event
from app.events.tables import events
from app.jobs.registry import Job
from app.leaderboards.boards import PeriodKind, leaderboard_topic, period_of
from app.leaderboards.service import list_boards, top
from app.ledger.usecases import settle_due_accounts, void_expired_holds
from app.runtime import Runtime
from app.tiers.usecases import review_tiers


async def _hold_timeouts(rt: Runtime) -> Mapping[str, Any]:
    voided = 0
    while True:  # catch up after a downtime: page until nothing is due
        done = await void_expired_holds(rt, limit=500)
        voided += done
        if done < 500:
            return {"voided": voided}


async def _tier_review(rt: Runtime) -> Mapping[str, Any]:
    return {"changed": await review_tiers(rt)}


async def _settle_due(rt: Runtime) -> Mapping[str, Any]:
    settings = rt.settings
    swept = await settle_due_accounts(
        rt,
        batch=settings.expiry_sweep_batch,
        lots_per_second=settings.expiry_sweep_lots_per_second,
        connections=settings.expiry_sweep_connections,
    )
    return asdict(swept)


# A period is closed once, shortly after it ends; one that ended longer ago than this is left
# alone (its closing event may have been purged from the outbox: never announce it twice).
CLOSE_WITHIN = timedelta(hours=36)
FINAL_TOP = 10


async def _leaderboard_rollover(rt: Runtime) -> Mapping[str, Any]:
    """Announce each leaderboard period that just ended (day, ISO week, month, business-local)
    with its final top 10, once: a ``leaderboard.period_closed`` event on the period's topic,
    so live widgets show the result and move on to the new period."""
    now = rt.clock.now()
    tz = rt.settings.timezone
    closed = 0
    for board in list_boards():
        for kind in (PeriodKind.DAILY, PeriodKind.WEEKLY, PeriodKind.MONTHLY):
            current = period_of(kind, now, tz)
            assert current.start is not None
            ended = period_of(kind, current.start - timedelta(microseconds=1), tz)
            if ended.end is None or now - ended.end > CLOSE_WITHIN:
                continue
            standings = await top(rt, board.name, kind.value, FINAL_TOP, ended.id)
            topic = leaderboard_topic(board.name, ended)
            async with unit_of_work(rt.engine) as conn:
                seen = await conn.scalar(
                    select(events.c.id)
                    .where(events.c.topic == topic, events.c.type == "leaderboard.period_closed")
                    .limit(1)
                )
                if seen is not None:
                    continue
                await append_event(
                    conn,
                    topic,
                    "leaderboard.period_closed",
                    {
                        "board": board.name,
                        "period": kind.value,
                        "period_id": ended.id,
                        "next_period_id": current.id,
                        "top": [
                            {"rank": s.rank, "member_id": s.member_id, "points": s.points}
                            for s in standings
                        ],
                    },
                )
                closed += 1
    return {"closed": closed}


HOLD_TIMEOUTS = Job(
    "hold-timeouts",
    "Void holds past their expiry; the points go back into their lots.",
    _hold_timeouts,
    every_seconds=30,
)
TIER_REVIEW = Job(
    "tier-review",
    "Review members whose tier review date passed or who went quiet: keep or downgrade.",
    _tier_review,
    cron="10 3 * * *",
)
EXPIRY_SWEEP = Job(
    "expiry-sweep",
    "Settle every account with something due: expire due lots into the points bank, make matured "
    "pending points available (a 'points.available' event each).",
    _settle_due,
    every_seconds=60,
)

LEADERBOARD_ROLLOVER = Job(
    "leaderboard-rollover",
    "Close the leaderboard periods that just ended (day, week, month): announce each with its "
    "final top 10 on the period's topic, once.",
    _leaderboard_rollover,
    cron="5 0 * * *",
)

CORE_JOBS = [HOLD_TIMEOUTS, TIER_REVIEW, EXPIRY_SWEEP, LEADERBOARD_ROLLOVER]
