"""withdrawPledge: take one's pledge back before the deadline; the hold is voided."""

from __future__ import annotations

from app.games import crowdfunding
from app.graphql.core.inputs import parse_id
from app.graphql.core.mutations import Call, mutation
from app.graphql.games.inputs import WithdrawPledgeInput
from app.graphql.games.resolvers import pledge_payload
from app.graphql.games.types import PledgePayload


@mutation("Withdraw one's pledge before the deadline (if allowed): the points come back.")
async def withdraw_pledge(call: Call, input: WithdrawPledgeInput) -> PledgePayload:
    member = await call.member(input.member_id)
    pledged = await crowdfunding.withdraw_pledge(
        call.runtime,
        call.actor,
        member_id=member,
        campaign_id=parse_id(str(input.campaign_id), "campaignId"),
        idempotency_key=input.idempotency_key,
    )
    return await pledge_payload(call.ctx, member, pledged)
