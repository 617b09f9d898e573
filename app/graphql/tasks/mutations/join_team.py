"""joinTeam: join a team by its code."""

from __future__ import annotations

from app.engagement import usecases
from app.graphql.core.mutations import Call, mutation
from app.graphql.tasks.inputs import JoinTeamInput
from app.graphql.tasks.resolvers import team_node
from app.graphql.tasks.types import TeamPayload


@mutation("Join a team by its code (one team per challenge; size limited).", result="TeamResult")
async def join_team(call: Call, input: JoinTeamInput) -> TeamPayload:
    member = await call.member(input.member_id)
    team = await usecases.join_team(call.runtime, call.actor, input.code, member)
    return TeamPayload(team=await team_node(call.info, team.code))
