"""The safe horizon over the outbox: the largest event id at or below which every event is final.

Event ids are drawn before commit, so across topics they commit out of order: event 11 may be
visible while event 10's transaction is still running. A reader that follows the whole outbox by
id (the leaderboard projector, the webhook dispatcher) and moved its cursor to 11 would skip 10
for ever. So it reads only up to a *safe horizon*: the largest id visible in a snapshot once
every transaction that was running at that snapshot has finished. Every event at or below it is
then either visible or never will be (its transaction rolled back). Migration 0012 makes every
writer hold a transaction id before it draws an event id, so the snapshot lists it.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import one_statement_read

HORIZON_POLL_SECONDS = 0.005

# Transactions of a snapshot still running, leaving out those pg_stat_activity shows belong to
# another database of the cluster (they cannot write our events).
_RUNNING_OF = """
    SELECT count(*) FROM pg_snapshot_xip({snapshot}) AS x
    WHERE pg_xact_status(x) = 'in progress'
      AND NOT EXISTS (
        SELECT 1 FROM pg_stat_activity a
        WHERE a.backend_xid IS NOT NULL AND a.datname IS DISTINCT FROM current_database()
          AND a.backend_xid::text::bigint = x::text::bigint % 4294967296
      )
"""
# The snapshot, the top id, and the first look at its transactions, in one statement: when none
# is running (a quiet outbox, a lone commit) that is the horizon at once. Not below the purge
# mark: an emptied outbox must not take a reader's cursor back under it (every id up to it is
# final: its event was published), or a projector would rebuild round after round.
_SNAPSHOT = text(
    "WITH s AS (SELECT pg_current_snapshot() AS snapshot)"
    " SELECT CAST(s.snapshot AS text) AS snapshot, greatest("
    " (SELECT coalesce(max(id), 0) FROM events),"
    " (SELECT coalesce(max(purged_through), 0) FROM events_purge_mark)) AS top,"
    f" ({_RUNNING_OF.format(snapshot='s.snapshot')}) AS running"
    " FROM s"
)
_STILL_RUNNING = text(_RUNNING_OF.format(snapshot="CAST(CAST(:snapshot AS text) AS pg_snapshot)"))


async def safe_horizon(
    engine: AsyncEngine, *, wait_seconds: float, poll_seconds: float = HORIZON_POLL_SECONDS
) -> int | None:
    """The largest event id at or below which every event is final; None after waiting
    ``wait_seconds`` for running transactions, looking every ``poll_seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    # In autocommit each statement is a transaction of its own, without a BEGIN and a ROLLBACK
    # around it (two round trips of three): pg_stat_activity is cached per transaction, so each
    # look must be one.
    async with one_statement_read(engine) as conn:
        row = (await conn.execute(_SNAPSHOT)).one()
        running = row.running
        while running:
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(poll_seconds)
            running = await conn.scalar(_STILL_RUNNING, {"snapshot": row.snapshot})
        return int(row.top)
