"""fulfilRedemption: a confirmed order handed over or shipped."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.mall.guards import order_owner
from app.graphql.mall.inputs import FulfilRedemptionInput
from app.graphql.mall.resolvers import redemption_payload
from app.graphql.mall.types import RedemptionPayload
from app.mall import usecases as redemptions


@mutation("Mark a confirmed order fulfilled (handed over or shipped).", result="RedemptionResult")
async def fulfil_redemption(call: Call, input: FulfilRedemptionInput) -> RedemptionPayload:
    order_id = await call.target(input.order_id, "orderId", order_owner)
    order = await redemptions.fulfil_redemption(call.runtime, call.actor, order_id, input.reference)
    return await redemption_payload(call.ctx, order)
