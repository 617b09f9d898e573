"""The programme's feed: every member's events in id order, for staff watching the programme
(the console's overview, through the ``programmeEvents`` subscription).

Members' events go out on one channel per member, so there is no channel to follow for all of
them; the feed reads the outbox table instead, every ``poll_seconds``, and only up to the safe
horizon (app/events/horizon.py): an event that commits after a larger id is still read, never
skipped. Polling costs a query per round per open feed, which suits a few staff screens (members'
apps follow their own topic through the hub).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.events.horizon import safe_horizon
from app.events.stream import StoredEvent
from app.events.tables import EVENT_COLUMNS, events

MEMBER_TOPICS = "member:%"
PAGE = 200
HORIZON_WAIT_SECONDS = 1.0


@dataclass(frozen=True)
class FeedEvent(StoredEvent):
    member_id: int  # the outbox's column (a member topic's member), not parsed from the topic


async def _read(
    engine: AsyncEngine, after: int, upto: int, *, latest: int | None = None
) -> list[FeedEvent]:
    """Members' events with ``after < id <= upto``, oldest first: the first ``PAGE`` of them, or
    with ``latest`` the last ``latest``."""
    query = select(*EVENT_COLUMNS).where(
        events.c.topic.like(MEMBER_TOPICS), events.c.id > after, events.c.id <= upto
    )
    if latest is None:
        query = query.order_by(events.c.id).limit(PAGE)
    else:
        query = query.order_by(events.c.id.desc()).limit(latest)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    found = [FeedEvent(r.id, r.topic, r.type, r.payload, r.created_at, r.member_id) for r in rows]
    return found if latest is None else found[::-1]


async def _horizon(engine: AsyncEngine, poll_seconds: float) -> int:
    while True:  # transactions that stay open past the wait: look again after a round
        top = await safe_horizon(engine, wait_seconds=HORIZON_WAIT_SECONDS)
        if top is not None:
            return top
        await asyncio.sleep(poll_seconds)


async def programme_events(
    engine: AsyncEngine, after: int | None, *, recent: int, poll_seconds: float
) -> AsyncIterator[FeedEvent]:
    """Every member's events with an id above ``after`` (None: the ``recent`` latest first),
    then the new ones as they commit; resumable with the last id received."""
    last = after
    if last is None:
        last = await _horizon(engine, poll_seconds)
        for event in await _read(engine, 0, last, latest=recent):
            yield event
    while True:
        top = await _horizon(engine, poll_seconds)
        page = await _read(engine, last, top) if top > last else []
        for event in page:
            yield event
        if len(page) == PAGE:
            last = page[-1].id  # more below the horizon: read on at once
            continue
        last = max(last, top)
        await asyncio.sleep(poll_seconds)
