"""createTeam: start a team for a team challenge; the captain joins at once."""

from __future__ import annotations

from app.engagement import usecases
from app.graphql.core.mutations import Call, mutation
from app.graphql.tasks.inputs import CreateTeamInput
from app.graphql.tasks.resolvers import team_node
from app.graphql.tasks.types import TeamPayload


@mutation("Start a team for a team challenge; the captain joins at once.", result="TeamResult")
async def create_team(call: Call, input: CreateTeamInput) -> TeamPayload:
    member = await call.member(input.member_id)
    team = await usecases.create_team(call.runtime, call.actor, input.task, member, input.name)
    return TeamPayload(team=await team_node(call.info, team.code))
