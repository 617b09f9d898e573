"""earnPoints: credit points to a member."""

from __future__ import annotations

from app.graphql.core.inputs import aware
from app.graphql.core.mutations import Call, mutation
from app.graphql.ledger.inputs import EarnPointsInput
from app.graphql.ledger.resolvers import points_posted
from app.graphql.ledger.types import PointsPosted
from app.ledger import usecases
from app.ledger.commands import Earn


@mutation("Credit points to a member (generic earn with a reason).")
async def earn_points(call: Call, input: EarnPointsInput) -> PointsPosted:
    entry = await usecases.earn_points(
        call.runtime, call.actor, await earn_of(call, input), idempotency_key=input.idempotency_key
    )
    return await points_posted(call.ctx, entry)


async def earn_of(call: Call, input: EarnPointsInput) -> Earn:
    """The earn an input asks for, once the caller may make it (earnPointsBatch's items too)."""
    return Earn(
        member_id=await call.member(input.member_id),
        amount=input.amount,
        reason=input.reason,
        reference=input.reference,
        available_at=aware(input.available_at, "availableAt"),
        expires_at=aware(input.expires_at, "expiresAt"),
    )
