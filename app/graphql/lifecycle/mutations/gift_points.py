"""giftPoints: one member gives points to another (the points keep their expiry)."""

from __future__ import annotations

from app.graphql.core.inputs import parse_id
from app.graphql.core.mutations import Call, mutation
from app.graphql.ledger.resolvers import balance_after_write
from app.graphql.lifecycle.inputs import GiftPointsInput
from app.graphql.lifecycle.types import GiftNode, GiftPayload
from app.lifecycle import gifting


@mutation(
    "Give points to another member: limits per gift and per day; the points keep their expiry."
)
async def gift_points(call: Call, input: GiftPointsInput) -> GiftPayload:
    sender = parse_id(str(input.from_member_id), "fromMemberId")
    recipient = parse_id(str(input.to_member_id), "toMemberId")
    await call.ctx.require_on_member(call.operation, sender)
    gift = await gifting.gift_points(
        call.runtime,
        call.actor,
        from_member_id=sender,
        to_member_id=recipient,
        amount=input.amount,
        idempotency_key=input.idempotency_key,
        message=input.message,
    )
    return GiftPayload(gift=GiftNode.of(gift), balance=await balance_after_write(call.ctx, sender))
