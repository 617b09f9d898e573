"""A challenge's board, live."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from app.engagement import usecases
from app.engagement.tracker import challenge_topic
from app.graphql.core.context import Info
from app.graphql.core.fields import described_subscription
from app.graphql.core.subscriptions import state_on_change
from app.graphql.tasks.resolvers import challenge_board
from app.graphql.tasks.types import ChallengeBoardNode


@strawberry.type
class TaskSubscriptions:
    @described_subscription("A challenge's board now, then whenever progress on it changes.")
    async def challenge_board(
        self, info: Info, task: str, top: int = 10, member_id: strawberry.ID | None = None
    ) -> AsyncGenerator[ChallengeBoardNode, None]:
        ctx = info.context
        first = await challenge_board(
            info, task, top, member_id
        )  # checks, NOT_FOUND, bad input first
        found = await usecases.find_task(ctx.runtime, first.task)
        sent_first = False

        async def read() -> ChallengeBoardNode:
            nonlocal sent_first
            if not sent_first:
                sent_first = True
                return first
            return await challenge_board(info, task, top, member_id)

        async for board in state_on_change(ctx, challenge_topic(found.task.id), read):
            yield board
