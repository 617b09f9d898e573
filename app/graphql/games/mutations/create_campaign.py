"""createCampaign: a crowdfunding campaign with a goal of points and a deadline."""

from __future__ import annotations

from app.games import crowdfunding
from app.games.policy import CampaignSpec
from app.graphql.core.mutations import Call, mutation
from app.graphql.games.inputs import CreateCampaignInput
from app.graphql.games.types import CampaignNode, CampaignPayload


@mutation("Start a crowdfunding campaign (staff).", result="CampaignResult")
async def create_campaign(call: Call, input: CreateCampaignInput) -> CampaignPayload:
    spec = CampaignSpec(
        code=input.code,
        name=input.name,
        purpose=input.purpose,
        goal=input.goal,
        starts_at=input.starts_at,
        ends_at=input.ends_at,
        min_pledge=input.min_pledge,
        allow_raise=input.allow_raise,
        allow_withdraw=input.allow_withdraw,
    )
    campaign = await crowdfunding.create_campaign(call.runtime, call.actor, spec)
    return CampaignPayload(campaign=CampaignNode.of(campaign))
