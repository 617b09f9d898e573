"""Subscriptions: a member's events (resumable by event id) and its live balance.

Both are authorised once, at subscribe time, through the permission table (``memberEvents`` and
``balance``: a member only itself, staff, partners with ``members:read`` for members of their
channel), and answer NOT_FOUND for an unknown member only after that check. The event flow behind
them (outbox → relay → Redis → this process's hub) is in docs/EVENTS.md.

* ``memberEvents(memberId, after)`` replays the member's events with an id above ``after`` from the
  outbox table, then goes live; duplicates are dropped by id and nothing is skipped. A client keeps
  the last ``id`` it received and, after any disconnection, subscribes again with ``after: id``.
* ``balance(memberId)`` sends the current balance at once, then again after every burst of events
  that changed it (re-read from the database, so it never goes backwards).

A subscriber that falls more than ``JIFEN_SUBSCRIBER_BUFFER`` events behind is ended with an error
whose code is ``SLOW_CONSUMER`` (and, for ``memberEvents``, ``lastEventId``): it resumes from there.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import strawberry
from strawberry.scalars import JSON

from app.errors import DomainError, ErrorCode
from app.events.broadcast import EventHub, SlowSubscriber
from app.events.outbox import member_topic
from app.events.stream import StoredEvent, changes, follow
from app.graphql.context import Context, Info
from app.graphql.fields import described_field, described_subscription
from app.graphql.ledger import BalanceNode
from app.graphql.pagination import parse_id
from app.ledger.models import Balance

MEMBER_EVENTS = "memberEvents"
BALANCE = "balance"


class SlowConsumerError(DomainError):
    def __init__(self, last_event_id: int | None) -> None:
        hint = f"; subscribe again with after: {last_event_id}" if last_event_id else ""
        super().__init__(
            ErrorCode.SLOW_CONSUMER, f"this subscription fell too far behind and was ended{hint}"
        )
        self.last_event_id = last_event_id


@strawberry.type(name="MemberEvent", description="Something that happened to a member's points.")
class MemberEventNode:
    event: strawberry.Private[StoredEvent]

    @described_field("Increasing within a member: resume with `after: id`.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.event.id))

    @described_field("points.earned, points.spent, hold.created, member.registered…")
    def type(self) -> str:
        return self.event.type

    @strawberry.field
    def created_at(self) -> datetime:
        return self.event.created_at

    @described_field("The event as recorded (keys in snake_case).")
    def payload(self) -> JSON:
        payload: Any = self.event.payload
        return payload  # type: ignore[no-any-return]

    @described_field("The balance after this event, when it changed one.")
    def balance(self) -> BalanceNode | None:
        raw = self.event.payload.get("balance")
        if not isinstance(raw, dict):
            return None
        return BalanceNode.of(
            Balance(
                available=int(raw.get("available", 0)),
                pending=int(raw.get("pending", 0)),
                held=int(raw.get("held", 0)),
                debt=int(raw.get("debt", 0)),
            )
        )


def _parse_after(raw: strawberry.ID | None) -> int:
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
    ctx: Context, topic: str, read: Callable[[], Awaitable[State]]
) -> AsyncIterator[State]:
    """``read()`` now, then again after every burst of events on ``topic``; only what differs
    from the last value sent is yielded (re-read from the database: it never goes backwards,
    and a lost message is healed by the next read, changes() resyncs after reconnects)."""
    sent: State | None = None
    try:
        async for _ in changes(hub_of(ctx), topic):
            current = await read()
            if current != sent:
                sent = current
                yield current
    except SlowSubscriber:
        raise SlowConsumerError(None) from None


@strawberry.type
class MemberSubscriptions:
    @described_subscription("A member's events: those after `after` from history first, then live.")
    async def member_events(
        self, info: Info, member_id: strawberry.ID, after: strawberry.ID | None = None
    ) -> AsyncGenerator[MemberEventNode, None]:
        ctx = info.context
        member = parse_id(str(member_id), "memberId")
        last = _parse_after(after)
        ctx.renew_loaders()
        await ctx.readable_member(MEMBER_EVENTS, member)
        try:
            async for event in follow(ctx.runtime.engine, hub_of(ctx), member_topic(member), last):
                last = event.id
                yield MemberEventNode(event=event)
        except SlowSubscriber:
            raise SlowConsumerError(last) from None

    @described_subscription("The member's balance now, then whenever it changes.")
    async def balance(
        self, info: Info, member_id: strawberry.ID
    ) -> AsyncGenerator[BalanceNode, None]:
        ctx = info.context
        member = parse_id(str(member_id), "memberId")
        ctx.renew_loaders()
        await ctx.readable_member(BALANCE, member)

        async def read() -> BalanceNode:
            ctx.renew_loaders()
            return BalanceNode.of(await ctx.loaders.balance.load(member))

        async for current in state_on_change(ctx, member_topic(member), read):
            yield current
