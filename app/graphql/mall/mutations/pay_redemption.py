"""payRedemption: the channel reports the cash part paid; the order confirms."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.mall.guards import order_owner
from app.graphql.mall.inputs import PayRedemptionInput
from app.graphql.mall.resolvers import redemption_payload
from app.graphql.mall.types import RedemptionPayload
from app.mall import usecases as redemptions


@mutation(
    "The channel confirms the cash part of points + cash; the order confirms.",
    result="RedemptionResult",
)
async def pay_redemption(call: Call, input: PayRedemptionInput) -> RedemptionPayload:
    order_id = await call.target(input.order_id, "orderId", order_owner)
    order = await redemptions.pay_redemption(
        call.runtime, call.actor, order_id, input.payment_ref, input.amount
    )
    return await redemption_payload(call.ctx, order)
