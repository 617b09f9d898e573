"""donatePoints: donate points to a charity."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.ledger.resolvers import balance_after_write
from app.graphql.mall.inputs import DonatePointsInput
from app.graphql.mall.types import CharityNode, DonationNode, DonationPayload
from app.mall import donations


@mutation("Donate points to a charity.", result="DonationResult")
async def donate_points(call: Call, input: DonatePointsInput) -> DonationPayload:
    member = await call.member(input.member_id)
    donation = await donations.donate(
        call.runtime,
        call.actor,
        member_id=member,
        charity_code=input.charity_code,
        points=input.points,
        idempotency_key=input.idempotency_key,
    )
    charity = await donations.get_charity(call.runtime, input.charity_code)
    return DonationPayload(
        donation=DonationNode.of(donation),
        charity=CharityNode.of(charity),
        balance=await balance_after_write(call.ctx, member),
    )
