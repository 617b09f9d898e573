"""The programme's tasks, a member's task centre, boards, teams and badges."""

from __future__ import annotations

import strawberry

from app.auth.principal import PrincipalKind
from app.engagement import usecases
from app.graphql.core.context import Info
from app.graphql.core.fields import described_field
from app.graphql.core.inputs import parse_id
from app.graphql.tasks.resolvers import challenge_board, team_node
from app.graphql.tasks.types import (
    BadgeNode,
    ChallengeBoardNode,
    MemberBadgeNode,
    StandingNode,
    TaskNode,
    TaskStatusNode,
    TeamNode,
)


@strawberry.type
class TaskQueries:
    @described_field(
        "The programme's tasks and challenges (a member sees only those open to its segment)."
    )
    async def tasks(self, info: Info, enabled: bool | None = None) -> list[TaskNode]:
        ctx = info.context
        ctx.require("tasks")
        member = ctx.principal.member_id if ctx.principal.kind is PrincipalKind.MEMBER else None
        found = await usecases.list_tasks(ctx.runtime, enabled=enabled, for_member=member)
        return [TaskNode.of(r) for r in found]

    @described_field("Every open task with the member's progress in its current period.")
    async def task_centre(self, info: Info, member_id: strawberry.ID) -> list[TaskStatusNode]:
        member = parse_id(str(member_id), "memberId")
        await info.context.readable_member("taskCentre", member)
        return [
            TaskStatusNode.of(s) for s in await usecases.task_centre(info.context.runtime, member)
        ]

    @described_field("A challenge's members ranked by progress this period (top ≤ 100).")
    async def challenge_board(
        self, info: Info, task: str, top: int = 10, member_id: strawberry.ID | None = None
    ) -> ChallengeBoardNode:
        return await challenge_board(info, task, top, member_id)

    @described_field("A team challenge's teams ranked by their members' progress (top ≤ 100).")
    async def team_board(self, info: Info, task: str, top: int = 10) -> ChallengeBoardNode:
        info.context.require("teamBoard")
        found, period, standings = await usecases.team_board(info.context.runtime, task, top)
        return ChallengeBoardNode(
            task=found.code, period=period, top=[StandingNode.of(s) for s in standings], member=None
        )

    @described_field("A team by its code.")
    async def team(self, info: Info, code: str) -> TeamNode:
        info.context.require("team")
        return await team_node(info, code)

    @described_field("The programme's badges.")
    async def badges(self, info: Info) -> list[BadgeNode]:
        info.context.require("badges")
        return [BadgeNode.of(b) for b in await usecases.list_badges(info.context.runtime)]

    @described_field("The badges a member holds, oldest first.")
    async def member_badges(self, info: Info, member_id: strawberry.ID) -> list[MemberBadgeNode]:
        member = parse_id(str(member_id), "memberId")
        await info.context.readable_member("memberBadges", member)
        found = await usecases.member_badges(info.context.runtime, member)
        return [MemberBadgeNode.of(b) for b in found]
