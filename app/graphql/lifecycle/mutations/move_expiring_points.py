"""moveExpiringPoints: points about to expire go into a donation or lottery tickets."""

from __future__ import annotations

from app.errors import invalid
from app.graphql.core.mutations import Call, mutation
from app.graphql.ledger.resolvers import balance_after_write
from app.graphql.lifecycle.inputs import MoveExpiringPointsInput
from app.graphql.lifecycle.types import BankMoveNode, BankMovePayload
from app.lifecycle import bank


@mutation(
    "Move the points that expire by `validThrough` (an expiry reminder's day) into a donation "
    "or lottery tickets before they expire (docs/BANK.md)."
)
async def move_expiring_points(call: Call, input: MoveExpiringPointsInput) -> BankMovePayload:
    member = await call.member(input.member_id)
    donating = input.to is bank.MoveKind.DONATION
    target = input.charity_code if donating else input.pool_code
    if target is None:
        field = "charityCode" if donating else "poolCode"
        raise invalid(f"{field} is required to move points to {input.to.name}", field)
    move = await bank.move_expiring_points(
        call.runtime,
        call.actor,
        member_id=member,
        expires_on=input.valid_through,
        kind=input.to,
        target=target,
        idempotency_key=input.idempotency_key,
    )
    return BankMovePayload(
        move=BankMoveNode.of(move), balance=await balance_after_write(call.ctx, member)
    )
