"""A member's sign-in streak, live."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from app.events.outbox import member_topic
from app.graphql.core.context import Info
from app.graphql.core.fields import described_subscription
from app.graphql.core.inputs import parse_id
from app.graphql.core.subscriptions import state_on_change
from app.graphql.engagement.resolvers import streak_of
from app.graphql.engagement.types import SignInStreakNode

SIGN_IN_STREAK = "signInStreak"


@strawberry.type
class EngagementSubscriptions:
    @described_subscription("A member's sign-in streak now, then after every sign-in.")
    async def sign_in_streak(
        self, info: Info, member_id: strawberry.ID
    ) -> AsyncGenerator[SignInStreakNode, None]:
        ctx = info.context
        member = parse_id(str(member_id), "memberId")
        ctx.renew_loaders()
        await ctx.readable_member(SIGN_IN_STREAK, member)

        async def read() -> SignInStreakNode:
            return await streak_of(ctx, member)

        async for current in state_on_change(ctx, member_topic(member), read):
            yield current
