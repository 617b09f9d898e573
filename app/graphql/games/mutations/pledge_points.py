"""pledgePoints: pledge points to a campaign, or raise one's pledge; the points are held."""

from __future__ import annotations

from app.games import crowdfunding
from app.graphql.core.inputs import parse_id
from app.graphql.core.mutations import Call, mutation
from app.graphql.games.inputs import PledgePointsInput
from app.graphql.games.resolvers import pledge_payload
from app.graphql.games.types import PledgePayload


@mutation("Pledge points (or raise one's pledge to this many): held until the deadline.")
async def pledge_points(call: Call, input: PledgePointsInput) -> PledgePayload:
    member = await call.member(input.member_id)
    pledged = await crowdfunding.pledge_points(
        call.runtime,
        call.actor,
        member_id=member,
        campaign_id=parse_id(str(input.campaign_id), "campaignId"),
        amount=input.amount,
        idempotency_key=input.idempotency_key,
    )
    return await pledge_payload(call.ctx, member, pledged)
