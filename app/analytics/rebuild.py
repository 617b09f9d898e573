"""Rebuilding the rollups from the ledger (``jifen analytics rebuild``).

1. Find the safe horizon H: every event with id <= H is committed or rolled back.
2. Under the rollup writers' lock, empty the rollups and sum the ledger's tables again, leaving
   out what the events above H carry (entries, sign-ins, registrations: the projector's). Each
   statement sees its own snapshot, but the set it counts is the same in all of them: what
   commits meanwhile has its event above H, visible with it.
3. Set the cursor to H, in the same transaction: the projector carries on from there.
4. The members' activity (app/segments/activity.py) likewise, at the same H, in a transaction
   of its own under its own lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text

from app.analytics.facts import (
    ADD_ACTIVITY,
    ADD_FLOWS,
    ADD_MEMBERS,
    ADD_SALES,
    TABLE_FACTS,
    TABLE_MEMBERS,
    TABLE_SALES,
)
from app.analytics.projector import lock_rollups, set_cursor
from app.errors import DomainError, ErrorCode
from app.events.horizon import safe_horizon
from app.runtime import Runtime
from app.segments.activity import rebuild_activity

REBUILD_HORIZON_TIMEOUT = 60.0

_EMPTY = text(
    "TRUNCATE analytics_members, analytics_flows, analytics_active, analytics_activity,"
    " analytics_sales"
)
_ADD_MEMBERS = text(ADD_MEMBERS.format(members=TABLE_MEMBERS))
_ADD_FLOWS = text(ADD_FLOWS.format(facts=TABLE_FACTS))
_ADD_ACTIVITY = text(ADD_ACTIVITY.format(facts=TABLE_FACTS))
_ADD_SALES = text(ADD_SALES.format(sales=TABLE_SALES))
_ANALYZE = text("ANALYZE analytics_members, analytics_flows, analytics_activity, analytics_sales")


@dataclass(frozen=True)
class Rebuilt:
    horizon: int
    flows: int  # rollup rows written


async def rebuild(rt: Runtime) -> Rebuilt:
    horizon = await safe_horizon(rt.engine, wait_seconds=REBUILD_HORIZON_TIMEOUT)
    if horizon is None:
        raise DomainError(
            ErrorCode.UNAVAILABLE, "transactions kept running: no safe horizon to rebuild at"
        )
    params = {"hi": horizon, "tz": rt.settings.timezone}
    async with rt.engine.begin() as conn:
        await lock_rollups(conn)
        await conn.execute(_EMPTY)
        await conn.execute(_ADD_MEMBERS, params)
        flows = (await conn.execute(_ADD_FLOWS, params)).rowcount
        await conn.execute(_ADD_ACTIVITY, params)
        await conn.execute(_ADD_SALES, params)
        await set_cursor(conn, horizon)
        # Statistics for the refilled tables now, not at autovacuum's next look: without them
        # the KPI read planned a sort of every rollup row where it hashes them.
        await conn.execute(_ANALYZE)
    await rebuild_member_activity(rt, horizon)
    return Rebuilt(horizon, flows)


async def rebuild_member_activity(rt: Runtime, horizon: int) -> None:
    """The members' activity from the ledger up to ``horizon``, its window starting where the
    segmentation window starts now."""
    window_start = rt.clock.now() - timedelta(days=rt.settings.segment_window_days)
    async with rt.engine.begin() as conn:
        await rebuild_activity(conn, horizon, window_start)
