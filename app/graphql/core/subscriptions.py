"""What every subscription shares: the hub, the slow-consumer error, resuming after an event id,
and re-reading a state each time its topic says it changed (docs/EVENTS.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import strawberry

from app.errors import DomainError, ErrorCode
from app.events.broadcast import EventHub, SlowSubscriber
from app.events.stream import changes
from app.graphql.core.context import Context
from app.graphql.core.inputs import parse_id


class SlowConsumerError(DomainError):
    def __init__(self, last_event_id: int | None) -> None:
        hint = f"; subscribe again with after: {last_event_id}" if last_event_id else ""
        super().__init__(
            ErrorCode.SLOW_CONSUMER, f"this subscription fell too far behind and was ended{hint}"
        )
        self.last_event_id = last_event_id


def parse_after(raw: strawberry.ID | None) -> int:
    if raw is None or str(raw) == "0":
        return 0
    return parse_id(str(raw), "after")


def hub_of(ctx: Context) -> EventHub:
    hub = ctx.runtime.hub
    if hub is None:
        raise RuntimeError("subscriptions need the event hub (started by the web app's lifespan)")
    return hub


State = TypeVar("State")


async def state_on_change(
    ctx: Context, topic: str, read: Callable[[], Awaitable[State]], *more: str
) -> AsyncIterator[State]:
    """``read()`` now, then again after every burst of events on ``topic`` (or the ``more``
    topics); only what differs
    from the last value sent is yielded (re-read from the database: it never goes backwards,
    and a lost message is healed by the next read, changes() resyncs after reconnects)."""
    sent: State | None = None
    try:
        async for _ in changes(hub_of(ctx), topic, *more):
            current = await read()
            if current != sent:
                sent = current
                yield current
    except SlowSubscriber:
        raise SlowConsumerError(None) from None
