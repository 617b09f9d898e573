"""voidHold: release an active hold."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.ledger.guards import hold_owner
from app.graphql.ledger.inputs import VoidHoldInput
from app.graphql.ledger.resolvers import hold_payload
from app.graphql.ledger.types import HoldPayload
from app.ledger import usecases
from app.ledger.commands import VoidHold


@mutation("Release an active hold: the points return to their lots.")
async def void_hold(call: Call, input: VoidHoldInput) -> HoldPayload:
    hold = await usecases.void_hold(
        call.runtime,
        call.actor,
        VoidHold(
            hold_id=await call.target(input.hold_id, "holdId", hold_owner), reason=input.reason
        ),
        idempotency_key=input.idempotency_key,
    )
    return await hold_payload(call.ctx, hold)
