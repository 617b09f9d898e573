"""A team and a challenge board as the queries, mutations and subscription show them."""

from __future__ import annotations

import strawberry

from app.engagement import usecases
from app.engagement.teams import Team
from app.graphql.core.context import Info
from app.graphql.core.fields import node_id
from app.graphql.core.inputs import parse_id
from app.graphql.tasks.types import ChallengeBoardNode, StandingNode, TeamNode

CHALLENGE_BOARD = "challengeBoard"


async def team_node(info: Info, code: str) -> TeamNode:
    team, ids, progress = await usecases.get_team(info.context.runtime, code)
    task = await _task_code(info, team)
    return TeamNode(
        id=node_id(team.id),
        code=team.code,
        name=team.name,
        task=task,
        captain_id=node_id(team.captain_id),
        size=team.size,
        max_size=team.max_size,
        member_ids=[node_id(i) for i in ids],
        progress=progress,
    )


async def _task_code(info: Info, team: Team) -> str:
    for record in await usecases.list_tasks(info.context.runtime):
        if record.task.id == team.task_id:
            return record.task.code
    return str(team.task_id)


async def challenge_board(
    info: Info, task: str, top: int, member_id: strawberry.ID | None
) -> ChallengeBoardNode:
    ctx = info.context
    ctx.require(CHALLENGE_BOARD)
    member = None if member_id is None else parse_id(str(member_id), "memberId")
    if member is not None:
        await ctx.readable_member(CHALLENGE_BOARD, member)
    found, period, standings, mine = await usecases.challenge_board(ctx.runtime, task, top, member)
    return ChallengeBoardNode(
        task=found.code,
        period=period,
        top=[StandingNode.of(s) for s in standings],
        member=None if mine is None else StandingNode.of(mine),
    )
