"""withdrawPledge: take one's pledge back before the deadline; the hold is voided."""

from __future__ import annotations

from app.games import crowdfunding
from app.graphql.core.mutations import Call, mutation
from app.graphql.games.inputs import WithdrawPledgeInput
from app.graphql.games.types import PledgePayload


@mutation("Withdraw one's pledge before the deadline (if allowed): the points come back.")
async def withdraw_pledge(call: Call, input: WithdrawPledgeInput) -> PledgePayload:
    return await PledgePayload.of(call, input, crowdfunding.withdraw_pledge)
