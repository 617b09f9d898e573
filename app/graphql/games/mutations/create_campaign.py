"""createCampaign: a crowdfunding campaign with a goal of points and a deadline."""

from __future__ import annotations

from app.games.crowdfunding import CAMPAIGNS
from app.games.policy import CampaignSpec
from app.graphql.core.mutations import Call, mutation
from app.graphql.games.inputs import CreateCampaignInput
from app.graphql.games.resolvers import spec_of
from app.graphql.games.types import CampaignNode, CampaignPayload


@mutation("Start a crowdfunding campaign (staff).", result="CampaignResult")
async def create_campaign(call: Call, input: CreateCampaignInput) -> CampaignPayload:
    campaign = await CAMPAIGNS.create(call.runtime, call.actor, spec_of(CampaignSpec, input))
    return CampaignPayload(campaign=CampaignNode.of(campaign))
