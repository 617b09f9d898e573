"""confirmRedemption: a points-only order confirmed; its held points are spent."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.mall.guards import order_owner
from app.graphql.mall.inputs import RedemptionIdInput
from app.graphql.mall.resolvers import redemption_payload
from app.graphql.mall.types import RedemptionPayload
from app.mall import usecases as redemptions


@mutation("Confirm a points-only order: its held points are spent.", result="RedemptionResult")
async def confirm_redemption(call: Call, input: RedemptionIdInput) -> RedemptionPayload:
    order_id = await call.target(input.order_id, "orderId", order_owner)
    order = await redemptions.confirm_redemption(call.runtime, call.actor, order_id)
    return await redemption_payload(call.ctx, order)
