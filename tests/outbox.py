"""The outbox as the projectors' tests need it: a real retention purge, a rolled-back id."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from sqlalchemy import text

from app.events.relay import asyncpg_dsn, purge_events
from app.runtime import Runtime


async def purge_outbox(rt: Runtime) -> int:
    """The relay's retention, as if every event were published long ago: the outbox empties."""
    async with rt.engine.begin() as conn:
        await conn.execute(
            text("UPDATE events SET published_at = now(), created_at = now() - interval '4 days'")
        )
    dsn = asyncpg_dsn(rt.settings.database_url or "")
    conn = await asyncpg.connect(dsn)
    try:
        return await purge_events(conn, timedelta(hours=72))
    finally:
        await conn.close()


async def roll_back_an_event(rt: Runtime) -> None:
    """Draw an event id in a transaction that rolls back: a gap in the ids, nothing purged."""
    async with rt.engine.connect() as conn:
        await conn.execute(
            text(
                "INSERT INTO events (member_id, topic, type, payload)"
                " VALUES (0, 'member:0', 'void', '{}')"
            )
        )
        await conn.rollback()
