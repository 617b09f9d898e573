"""returnRedemption: a confirmed order taken back; points return into their original lots."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.mall.guards import order_owner
from app.graphql.mall.inputs import CloseRedemptionInput
from app.graphql.mall.resolvers import redemption_payload
from app.graphql.mall.types import RedemptionPayload
from app.mall import usecases as redemptions


@mutation(
    "Take back a confirmed order: points return into their original lots.",
    result="RedemptionResult",
)
async def return_redemption(call: Call, input: CloseRedemptionInput) -> RedemptionPayload:
    order_id = await call.target(input.order_id, "orderId", order_owner)
    order = await redemptions.return_redemption(call.runtime, call.actor, order_id, input.reason)
    return await redemption_payload(call.ctx, order)
