"""The outbox as the projectors' tests need it: a real retention purge, a rolled-back id; and a
relay that only a commit's wake can bring round in time."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
from sqlalchemy import text

from app.config import Settings
from app.events.broadcast import EventHub
from app.events.relay import Relay, asyncpg_dsn, purge_events
from app.runtime import Runtime
from tests.eventually import eventually

# Far longer than any test waits for a publication: only a wake brings the relay round in time.
SLOW_POLL_SECONDS = 60.0
PROMPTLY = 3.0  # a wake's publication, on a loaded machine; the poll would take 60 s


@asynccontextmanager
async def hub_of_its_own(settings: Settings) -> AsyncIterator[EventHub]:
    """A connected hub with a prefix of its own: nothing else on the Redis server hears it."""
    hub = EventHub.from_settings(settings.redis_url or "", f"test:{uuid.uuid4().hex}:", 100)
    await hub.connect()
    try:
        yield hub
    finally:
        await hub.disconnect()


@asynccontextmanager
async def slow_polling_relay(rt: Runtime, **options: Any) -> AsyncIterator[Relay]:
    """The relay, leading, in this process, with everything written so far published and a
    minute's poll: what it publishes within :data:`PROMPTLY` seconds a wake brought round."""
    async with hub_of_its_own(rt.settings) as hub:
        relay = Relay(
            rt.settings.database_url or "", hub, poll_seconds=SLOW_POLL_SECONDS, **options
        )
        task = asyncio.create_task(relay.run())
        try:
            await eventually(lambda: relay.is_leader, within=10)
            await eventually(lambda: all_published(rt), within=10)  # its first round
            yield relay
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def all_published(rt: Runtime) -> bool:
    async with rt.engine.connect() as conn:
        pending = await conn.scalar(text("SELECT count(*) FROM events WHERE published_at IS NULL"))
    return pending == 0


async def published_promptly(rt: Runtime) -> None:
    """Every event in the outbox is published within :data:`PROMPTLY` seconds."""
    await eventually(lambda: all_published(rt), within=PROMPTLY)


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
