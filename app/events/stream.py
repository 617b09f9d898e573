"""Following a topic: replay from the outbox table, then live from the hub, no gaps, no duplicates.

:func:`follow` subscribes to the topic's channel **before** it reads the table, so an event is
either in the replay or arrives live (or both: duplicates are dropped by id). Within a topic, ids
are in commit order (migration 0002), so "the last id seen" is a complete resume position: the
replay reads ``id > last``, a live event with ``id <= last`` is a duplicate. When the hub says it
may have lost messages (:data:`RESYNC`, after a Redis reconnection), the replay runs again from the
last id.

With read replicas (app/replicas.py), the replay reads a replica that has replayed at least
what the primary had committed once the subscription was confirmed (waiting a moment for it to get
there): every event published before then is in it, and every later one arrives live. No such
replica: the primary.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.events.broadcast import RESYNC, BoundedSubscriber, EventHub
from app.events.tables import events
from app.replicas import REPLAY_WAIT_SECONDS, ReadReplicas

Connect = Callable[[], AbstractAsyncContextManager[AsyncConnection]]

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
        return _parsed(message)

    @classmethod
    def parse(cls, message: str) -> StoredEvent:
        data = json.loads(message)
        return cls(
            id=int(data["id"]),
            topic=data["topic"],
            type=data["type"],
            payload=data["payload"],
            created_at=datetime.fromisoformat(data["created_at"]),
        )


# Every subscriber of a topic in this process gets the same message (the same string): parse it
# once. The events are frozen, and their payloads are only read.
@functools.lru_cache(maxsize=1024)
def _parsed(message: str) -> StoredEvent:
    return StoredEvent.parse(message)


async def read_events(
    engine: AsyncEngine, topic: str, after: int, limit: int = REPLAY_PAGE
) -> list[StoredEvent]:
    """Events of ``topic`` with ``id > after``, oldest first, at most ``limit``."""
    return await _read_events(engine.connect, topic, after, limit)


async def _read_events(connect: Connect, topic: str, after: int, limit: int) -> list[StoredEvent]:
    query = (
        select(events.c.id, events.c.topic, events.c.type, events.c.payload, events.c.created_at)
        .where(events.c.topic == topic, events.c.id > after)
        .order_by(events.c.id)
        .limit(limit)
    )
    async with connect() as conn:
        rows = (await conn.execute(query)).all()
    return [StoredEvent(r.id, r.topic, r.type, r.payload, r.created_at) for r in rows]


async def latest_event_id(engine: AsyncEngine, topic: str) -> int:
    query = select(events.c.id).where(events.c.topic == topic).order_by(events.c.id.desc()).limit(1)
    async with engine.connect() as conn:
        found = await conn.scalar(query)
    return int(found or 0)


async def _replay(
    engine: AsyncEngine, replicas: ReadReplicas | None, topic: str, after: int
) -> AsyncIterator[StoredEvent]:
    connect: Connect = engine.connect
    if replicas is not None:
        # Taken after the subscription was confirmed: a replica at or past it has every event
        # published before then.
        committed = await replicas.primary_lsn()

        def connect() -> AbstractAsyncContextManager[AsyncConnection]:
            return replicas.connect(at_least=committed, force=True, wait=REPLAY_WAIT_SECONDS)

    while True:
        page = await _read_events(connect, topic, after, REPLAY_PAGE)
        for event in page:
            yield event
        if len(page) < REPLAY_PAGE:
            return
        after = page[-1].id


async def follow(
    engine: AsyncEngine,
    hub: EventHub,
    topic: str,
    after: int = 0,
    replicas: ReadReplicas | None = None,
) -> AsyncIterator[StoredEvent]:
    """Every event of ``topic`` after ``after``, then each new one as it is published; the
    replays from the table on ``replicas`` when one is fresh enough.

    Raises :class:`app.events.broadcast.SlowSubscriber` when the consumer falls too far behind.
    """
    async with hub.subscribe(topic) as subscriber:
        last = after
        async for event in _replay(engine, replicas, topic, last):
            yield event
            last = event.id
        while True:
            message = (await subscriber.get()).message
            if message == RESYNC:
                async for event in _replay(engine, replicas, topic, last):
                    yield event
                    last = event.id
                continue
            event = StoredEvent.from_message(message)
            if event.id <= last:
                continue
            yield event
            last = event.id


async def changes(hub: EventHub, topic: str, *more: str) -> AsyncIterator[int]:
    """Yields once per burst of activity on ``topic`` (and the ``more`` topics: a state that
    several topics change, such as a duel's scores) — events or a resync —, for consumers that
    re-read state rather than apply events; the first value is yielded at once (read now).
    The values are the number of notifications coalesced (0 for the first)."""
    async with AsyncExitStack() as stack:
        subscribers = [await stack.enter_async_context(hub.subscribe(t)) for t in (topic, *more)]
        yield 0
        while True:
            await _any(subscribers)
            count = 1
            for subscriber in subscribers:
                while subscriber.get_nowait() is not None:
                    count += 1
            yield count


async def _any(subscribers: list[BoundedSubscriber]) -> None:
    """Until one of the subscribers has an event (taken from it)."""
    if len(subscribers) == 1:
        await subscribers[0].get()
        return
    waiting = [asyncio.ensure_future(s.get()) for s in subscribers]
    try:
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waiting:
            task.cancel()
    for task in done:
        task.result()  # a slow subscriber's cut-off is raised here
