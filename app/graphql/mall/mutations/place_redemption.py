"""placeRedemption: order an item; points are held and stock reserved until confirmed."""

from __future__ import annotations

from app.graphql.core.inputs import parse_id
from app.graphql.core.mutations import Call, mutation
from app.graphql.mall.inputs import PlaceRedemptionInput
from app.graphql.mall.resolvers import redemption_payload
from app.graphql.mall.types import RedemptionPayload
from app.mall import usecases as redemptions


@mutation(
    "Order an item: points are held and stock reserved until confirmed.",
    result="RedemptionResult",
    # A flash sale's gate refuses most of a rush from Redis: the member's standing is read only
    # for the buyers it lets through (app/graphql/core/standing.py).
    gate_first=True,
)
async def place_redemption(call: Call, input: PlaceRedemptionInput) -> RedemptionPayload:
    placed = await redemptions.place_redemption(
        call.runtime,
        call.actor,
        member_id=await call.member(input.member_id),
        item_id=parse_id(input.item_id, "itemId"),
        quantity=input.quantity,
        idempotency_key=input.idempotency_key,
        quoted_points=input.quoted_points,
        admit=call.settle_standing,
    )
    return await redemption_payload(call.ctx, placed.order, replayed=placed.replayed)
