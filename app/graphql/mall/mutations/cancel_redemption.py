"""cancelRedemption: an unconfirmed order cancelled; hold voided, stock back."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.mall.guards import order_owner
from app.graphql.mall.inputs import CloseRedemptionInput
from app.graphql.mall.resolvers import redemption_payload
from app.graphql.mall.types import RedemptionPayload
from app.mall import usecases as redemptions


@mutation("Cancel an unconfirmed order: hold voided, stock back.", result="RedemptionResult")
async def cancel_redemption(call: Call, input: CloseRedemptionInput) -> RedemptionPayload:
    order_id = await call.target(input.order_id, "orderId", order_owner)
    order = await redemptions.cancel_redemption(call.runtime, call.actor, order_id, input.reason)
    return await redemption_payload(call.ctx, order)
