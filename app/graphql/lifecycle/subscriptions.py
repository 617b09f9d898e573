"""A member's expiry reminders, live."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from app.events.broadcast import SlowSubscriber
from app.events.outbox import member_topic
from app.events.stream import follow
from app.graphql.core.context import Info
from app.graphql.core.fields import described_subscription
from app.graphql.core.inputs import parse_id
from app.graphql.core.subscriptions import SlowConsumerError, hub_of, parse_after
from app.graphql.lifecycle.types import ExpiryAlertNode
from app.lifecycle.reminders import KIND as EXPIRING

EXPIRY_ALERTS = "expiryAlerts"


@strawberry.type
class LifecycleSubscriptions:
    @described_subscription(
        "A member's expiry reminders: those after `after` first, then live as the job sends them."
    )
    async def expiry_alerts(
        self, info: Info, member_id: strawberry.ID, after: strawberry.ID | None = None
    ) -> AsyncGenerator[ExpiryAlertNode, None]:
        ctx = info.context
        member = parse_id(str(member_id), "memberId")
        last = parse_after(after)
        ctx.renew_loaders()
        await ctx.readable_member(EXPIRY_ALERTS, member)
        try:
            async for event in follow(
                ctx.runtime.engine, hub_of(ctx), member_topic(member), last, ctx.runtime.replicas
            ):
                last = event.id
                if event.type == EXPIRING:
                    yield ExpiryAlertNode(event=event)
        except SlowSubscriber:
            raise SlowConsumerError(last) from None
