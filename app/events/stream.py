"""Following a topic: replay from the outbox table, then live from the hub, no gaps, no duplicates.

:func:`follow` subscribes to the topic's channel **before** it reads the table, so an event is
either in the replay or arrives live (or both: duplicates are dropped by id). Within a topic, ids
are in commit order (migration 0002), so "the last id seen" is a complete resume position: the
replay reads ``id > last``, a live event with ``id <= last`` is a duplicate. When the hub says it
may have lost messages (:data:`RESYNC`, after a Redis reconnection), the replay runs again from the
last id.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.events.broadcast import RESYNC, EventHub
from app.events.tables import events

REPLAY_PAGE = 200


@dataclass(frozen=True)
class StoredEvent:
    id: int
    topic: str
    type: str
    payload: dict[str, Any]
    created_at: datetime

    @classmethod
    def from_message(cls, message: str) -> StoredEvent:
        data = json.loads(message)
        return cls(
            id=int(data["id"]),
            topic=data["topic"],
            type=data["type"],
            payload=data["payload"],
            created_at=datetime.fromisoformat(data["created_at"]),
        )


async def read_events(
    engine: AsyncEngine, topic: str, after: int, limit: int = REPLAY_PAGE
) -> list[StoredEvent]:
    """Events of ``topic`` with ``id > after``, oldest first, at most ``limit``."""
    query = (
        select(events.c.id, events.c.topic, events.c.type, events.c.payload, events.c.created_at)
        .where(events.c.topic == topic, events.c.id > after)
        .order_by(events.c.id)
        .limit(limit)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [StoredEvent(r.id, r.topic, r.type, r.payload, r.created_at) for r in rows]


async def latest_event_id(engine: AsyncEngine, topic: str) -> int:
    query = select(events.c.id).where(events.c.topic == topic).order_by(events.c.id.desc()).limit(1)
    async with engine.connect() as conn:
        found = await conn.scalar(query)
    return int(found or 0)


async def _replay(engine: AsyncEngine, topic: str, after: int) -> AsyncIterator[StoredEvent]:
    while True:
        page = await read_events(engine, topic, after)
        for event in page:
            yield event
        if len(page) < REPLAY_PAGE:
            return
        after = page[-1].id


async def follow(
    engine: AsyncEngine, hub: EventHub, topic: str, after: int = 0
) -> AsyncIterator[StoredEvent]:
    """Every event of ``topic`` after ``after``, then each new one as it is published.

    Raises :class:`app.events.broadcast.SlowSubscriber` when the consumer falls too far behind.
    """
    async with hub.subscribe(topic) as subscriber:
        last = after
        async for event in _replay(engine, topic, last):
            yield event
            last = event.id
        while True:
            message = (await subscriber.get()).message
            if message == RESYNC:
                async for event in _replay(engine, topic, last):
                    yield event
                    last = event.id
                continue
            event = StoredEvent.from_message(message)
            if event.id <= last:
                continue
            yield event
            last = event.id


async def changes(hub: EventHub, topic: str) -> AsyncIterator[int]:
    """Yields once per burst of activity on ``topic`` (events or a resync), for consumers that
    re-read state rather than apply events; the first value is yielded at once (read now).
    The values are the number of notifications coalesced (0 for the first)."""
    async with hub.subscribe(topic) as subscriber:
        yield 0
        while True:
            await subscriber.get()
            count = 1
            while subscriber.get_nowait() is not None:
                count += 1
            yield count
