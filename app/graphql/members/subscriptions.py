"""Subscriptions: a member's events (resumable by event id) and its live balance.

Both are authorised once, at subscribe time, through the permission table (``memberEvents`` and
``balance``: a member only itself, staff, partners with ``members:read`` for members of their
channel), and answer NOT_FOUND for an unknown member only after that check. The event flow behind
them (outbox → relay → Redis → this process's hub) is in docs/EVENTS.md.

* ``memberEvents(memberId, after)`` replays the member's events with an id above ``after`` from the
  outbox table, then goes live; duplicates are dropped by id and nothing is skipped. A client keeps
  the last ``id`` it received and, after any disconnection, subscribes again with ``after: id``.
* ``programmeEvents(after, recent)`` (staff) is every member's events, for the console's live
  feed: read from the outbox table (app/events/feed.py), resumable by id like ``memberEvents``.
* ``balance(memberId)`` sends the current balance at once, then again after every burst of events
  that changed it (re-read from the database, so it never goes backwards).

A subscriber that falls more than ``JIFEN_SUBSCRIBER_BUFFER`` events behind is ended with an error
whose code is ``SLOW_CONSUMER`` (and, for ``memberEvents``, ``lastEventId``): it resumes from there.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Hashable
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from app.events.broadcast import SlowSubscriber
from app.events.feed import FeedEvent, programme_events
from app.events.outbox import member_topic
from app.events.stream import StoredEvent, follow
from app.graphql.core.context import Info
from app.graphql.core.fanout import SharedBySubscribers, event_identity
from app.graphql.core.fields import described_field, described_subscription
from app.graphql.core.inputs import parse_id
from app.graphql.core.subscriptions import (
    SlowConsumerError,
    hub_of,
    parse_after,
    state_on_change,
)
from app.graphql.ledger.types import BalanceNode
from app.ledger.models import Balance

MEMBER_EVENTS = "memberEvents"


BALANCE = "balance"
PROGRAMME_EVENTS = "programmeEvents"


@strawberry.type(name="MemberEvent", description="Something that happened to a member's points.")
class MemberEventNode(SharedBySubscribers):
    event: strawberry.Private[StoredEvent]

    def shared_key(self) -> Hashable:
        return event_identity(self.event)  # every field below reads the event alone

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


@strawberry.type(
    name="ProgrammeEvent", description="Something that happened to a member, in the programme feed."
)
class ProgrammeEventNode(MemberEventNode):
    event: strawberry.Private[FeedEvent]

    @described_field("The member it happened to.")
    def member_id(self) -> strawberry.ID:
        return strawberry.ID(str(self.event.member_id))


@strawberry.type
class MemberSubscriptions:
    @described_subscription("A member's events: those after `after` from history first, then live.")
    async def member_events(
        self, info: Info, member_id: strawberry.ID, after: strawberry.ID | None = None
    ) -> AsyncGenerator[MemberEventNode, None]:
        ctx = info.context
        member = parse_id(str(member_id), "memberId")
        last = parse_after(after)
        ctx.renew_loaders()
        await ctx.readable_member(MEMBER_EVENTS, member)
        try:
            async for event in follow(
                ctx.runtime.engine, hub_of(ctx), member_topic(member), last, ctx.runtime.replicas
            ):
                last = event.id
                yield MemberEventNode(event=event)
        except SlowSubscriber:
            raise SlowConsumerError(last) from None

    @described_subscription(
        "Every member's events (staff): those after `after`, or the `recent` latest, then live."
    )
    async def programme_events(
        self, info: Info, after: strawberry.ID | None = None, recent: int = 20
    ) -> AsyncGenerator[ProgrammeEventNode, None]:
        ctx = info.context
        ctx.require(PROGRAMME_EVENTS)
        last = None if after is None else parse_after(after)
        settings = ctx.runtime.settings
        feed = programme_events(
            ctx.runtime.engine,
            last,
            recent=min(max(recent, 0), settings.page_size_cap),
            poll_seconds=settings.feed_poll_seconds,
        )
        async for event in feed:
            yield ProgrammeEventNode(event=event)

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
