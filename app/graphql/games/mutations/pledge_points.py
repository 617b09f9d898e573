"""pledgePoints: pledge points to a campaign, or raise one's pledge; the points are held."""

from __future__ import annotations

from app.games import crowdfunding
from app.graphql.core.mutations import Call, mutation
from app.graphql.games.inputs import PledgePointsInput
from app.graphql.games.types import PledgePayload


@mutation("Pledge points (or raise one's pledge to this many): held until the deadline.")
async def pledge_points(call: Call, input: PledgePointsInput) -> PledgePayload:
    return await PledgePayload.of(call, input, crowdfunding.pledge_points, amount=input.amount)
