"""Waking the sender when events commit, so a message does not wait for the next poll.

Migration 0002's trigger sends ``NOTIFY jifen_events`` at every commit that wrote outbox events
(the relay listens for the same). The sender listens too, on a connection of its own, outside
the pool, and sets an :class:`asyncio.Event` at each notification; its loop wakes on it as well as
on its poll (``webhook_poll_seconds``), which stays the fallback: while the listening connection
is down (it is opened again with back-off), or for retries that come due with no commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import asyncpg

from app.events.broadcast import backoff_delay
from app.events.relay import NOTIFY_CHANNEL, asyncpg_dsn
from app.logging import get_logger

log = get_logger("app.webhooks.wake")


PING_SECONDS = 30.0  # a connection that died silently is noticed by this ping at the latest


async def _listening(dsn: str, commits: asyncio.Event) -> None:
    """One LISTEN connection, until it is lost (returns or raises)."""
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(NOTIFY_CHANNEL, lambda *_: commits.set())
        commits.set()  # a commit may have been missed while not listening
        while not lost.is_set():
            with suppress(TimeoutError):
                async with asyncio.timeout(PING_SECONDS):
                    await lost.wait()
            if not lost.is_set():
                await conn.fetchval("SELECT 1", timeout=5)
    finally:
        with suppress(Exception):
            await asyncio.wait_for(conn.close(), 2)


async def _listen(dsn: str, commits: asyncio.Event) -> None:
    """Keep a LISTEN connection open until cancelled, opening it again with back-off."""
    failures = 0
    while True:
        try:
            await _listening(dsn, commits)
            failures = 1
            log.warning("webhooks.listen_lost")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures += 1
            log.warning("webhooks.listen_failed", error=repr(exc), failures=failures)
        await asyncio.sleep(backoff_delay(failures, initial=0.2, cap=5.0))


@asynccontextmanager
async def outbox_commits(database_url: str | None) -> AsyncIterator[asyncio.Event]:
    """An event set whenever a transaction that wrote outbox events commits (clear it once
    seen). Without a database URL (a runtime built by hand), it is never set: polling only."""
    commits = asyncio.Event()
    if database_url is None:
        yield commits
        return
    task = asyncio.create_task(_listen(asyncpg_dsn(database_url), commits), name="jifen-wh-wake")
    try:
        yield commits
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
