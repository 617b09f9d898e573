"""holdPoints: reserve points until committed or voided."""

from __future__ import annotations

from app.graphql.core.inputs import aware
from app.graphql.core.mutations import Call, mutation
from app.graphql.ledger.inputs import HoldPointsInput
from app.graphql.ledger.resolvers import hold_payload
from app.graphql.ledger.types import HoldPayload
from app.ledger import usecases
from app.ledger.commands import PlaceHold


@mutation("Reserve points; commit or void the hold later.")
async def hold_points(call: Call, input: HoldPointsInput) -> HoldPayload:
    hold = await usecases.hold_points(
        call.runtime,
        call.actor,
        PlaceHold(
            member_id=await call.member(input.member_id),
            amount=input.amount,
            reason=input.reason,
            reference=input.reference,
            expires_at=aware(input.expires_at, "expiresAt"),
        ),
        idempotency_key=input.idempotency_key,
    )
    return await hold_payload(call.ctx, hold)
