"""The projector: outbox events → rollup rows, each event counted exactly once.

It reads the outbox table itself, by event id, up to the *safe horizon* (every event at or
below it is committed or never will be: :func:`app.leaderboards.projector.safe_horizon`), and
writes a batch's rollups and its cursor in one transaction, under a transaction-level advisory
lock that the rebuild takes too; so any number of processes may run it and none counts an event
twice. The write path pays nothing: the events it reads are written anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.analytics.facts import (
    ADD_ACTIVITY,
    ADD_FLOWS,
    ADD_MEMBERS,
    ADD_SALES,
    EVENT_FACTS,
    EVENT_MEMBERS,
    EVENT_SALES,
)
from app.events.horizon import safe_horizon
from app.logging import get_logger
from app.runtime import Runtime

log = get_logger("app.analytics.projector")

CURSOR = "rollups"
# The advisory lock of rollup writers (the projector's batches and the rebuild): "JFAN".
LOCK_KEY = 0x4A46414E
EVENTS_PER_BATCH = 5_000
# Rollups may lag by a moment: look for the horizon gently, not every 5 ms like the boards,
# whose readers watch live (each look reads pg_stat_activity).
HORIZON_POLL_SECONDS = 0.1

_LOCK = text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=LOCK_KEY)
_ENSURE_CURSOR = text(
    "INSERT INTO analytics_cursor (name, last_event_id) VALUES (:name, 0) ON CONFLICT DO NOTHING"
)
_READ_CURSOR = text("SELECT last_event_id FROM analytics_cursor WHERE name = :name")
_MOVE_CURSOR = text("UPDATE analytics_cursor SET last_event_id = :hi WHERE name = :name")
_ADD_MEMBERS = text(ADD_MEMBERS.format(members=EVENT_MEMBERS))
_ADD_FLOWS = text(ADD_FLOWS.format(facts=EVENT_FACTS))
_ADD_ACTIVITY = text(ADD_ACTIVITY.format(facts=EVENT_FACTS))
_ADD_SALES = text(ADD_SALES.format(sales=EVENT_SALES))


@dataclass(frozen=True)
class Projection:
    horizon: int | None  # None: transactions still running after the wait
    cursor: int  # where the rollups stand after this call


async def lock_rollups(conn: AsyncConnection) -> None:
    """Serialise rollup writers for the rest of ``conn``'s transaction."""
    await conn.execute(_LOCK)


async def read_cursor(conn: AsyncConnection) -> int | None:
    value = await conn.scalar(_READ_CURSOR, {"name": CURSOR})
    return None if value is None else int(value)


async def set_cursor(conn: AsyncConnection, event_id: int) -> None:
    await conn.execute(_ENSURE_CURSOR, {"name": CURSOR})
    await conn.execute(_MOVE_CURSOR, {"name": CURSOR, "hi": event_id})


async def add_events(conn: AsyncConnection, lo: int, hi: int, tz: str) -> None:
    """Add the facts of the events in ``(lo, hi]`` to the rollups."""
    params = {"lo": lo, "hi": hi, "tz": tz}
    await conn.execute(_ADD_MEMBERS, params)
    await conn.execute(_ADD_FLOWS, params)
    await conn.execute(_ADD_ACTIVITY, params)
    await conn.execute(_ADD_SALES, params)


async def apply_pending(rt: Runtime, *, batch_size: int = EVENTS_PER_BATCH) -> Projection:
    """Bring the rollups up to the safe horizon, a batch of event ids at a time."""
    horizon = await safe_horizon(
        rt.engine,
        wait_seconds=rt.settings.leaderboard_horizon_timeout,
        poll_seconds=HORIZON_POLL_SECONDS,
    )
    if horizon is None:
        log.warning("analytics.horizon_timeout")
    cursor = 0
    while True:
        async with rt.engine.begin() as conn:
            await lock_rollups(conn)
            cursor = await read_cursor(conn) or 0
            if horizon is None or cursor >= horizon:
                return Projection(horizon, cursor)
            hi = min(horizon, cursor + batch_size)
            await add_events(conn, cursor, hi, rt.settings.timezone)
            await set_cursor(conn, hi)
