"""The database pool under a steady load (app/db.py, app/pool.py): it opens a connection once
and keeps it, so repeated bursts of concurrent checkouts never fork, authenticate and prepare
PostgreSQL backends anew. Real PostgreSQL; connections counted on the engine's ``connect`` and
``close`` events and on the server's own session counter."""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.db import create_engine

POOL_SIZE = 3
CEILING = 2 * POOL_SIZE  # pool_size, and as many again at a peak
ROUNDS = 10


async def burst(engine: AsyncEngine, concurrent: int) -> None:
    """``concurrent`` checkouts held at once (each waits for all the others before returning
    its connection), the shape of a load that keeps the pool at its peak."""
    all_out = asyncio.Barrier(concurrent)

    async def checkout() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            await all_out.wait()

    await asyncio.gather(*(checkout() for _ in range(concurrent)))


async def sessions_started(settings: Settings) -> int:
    """PostgreSQL's count of sessions ever opened on the test database."""
    dsn = str(settings.database_url).replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        count: int = await conn.fetchval(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        )
        return count
    finally:
        await conn.close()


async def test_repeated_peaks_reuse_the_connections_opened_by_the_first(
    settings: Settings,
) -> None:
    """Bursts at the ceiling, round after round: the first opens the connections, the rest
    reuse them. The old pool closed the overflow half at every return and opened it again
    (CEILING + (ROUNDS - 1) * POOL_SIZE connections here)."""
    engine = create_engine(str(settings.database_url), pool_size=POOL_SIZE)
    opened: list[int] = []
    closed: list[int] = []
    event.listen(engine.sync_engine, "connect", lambda conn, record: opened.append(1))
    event.listen(engine.sync_engine.pool, "close", lambda conn, record: closed.append(1))
    try:
        before = await sessions_started(settings)
        for _ in range(ROUNDS):
            await burst(engine, CEILING)
        after = await sessions_started(settings)
        assert len(opened) == CEILING
        assert closed == []
        # The server's count agrees: a session counts itself at the latest when it ends, so one
        # still open may not be in it yet, but the old pool's closed ones all were.
        assert after - before <= CEILING + 1  # ours and the connection that counted before
    finally:
        await engine.dispose()


async def test_past_the_ceiling_requests_wait_for_a_connection_instead_of_opening_one(
    settings: Settings,
) -> None:
    """Twice the ceiling at once: half wait in line, and no connection beyond it is opened."""
    engine = create_engine(str(settings.database_url), pool_size=POOL_SIZE)
    opened: list[int] = []
    event.listen(engine.sync_engine, "connect", lambda conn, record: opened.append(1))
    in_use = 0
    peak = 0

    async def checkout() -> None:
        nonlocal in_use, peak
        async with engine.connect() as conn:
            in_use += 1
            peak = max(peak, in_use)
            await conn.execute(text("SELECT pg_sleep(0.02)"))
            in_use -= 1

    try:
        for _ in range(3):
            await asyncio.gather(*(checkout() for _ in range(2 * CEILING)))
        assert len(opened) == CEILING
        assert peak == CEILING
    finally:
        await engine.dispose()
