"""reverseEntry: claw back an earn, or return a spend."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.ledger.guards import entry_owner
from app.graphql.ledger.inputs import ReverseEntryInput
from app.graphql.ledger.resolvers import points_posted
from app.graphql.ledger.types import PointsPosted
from app.ledger import usecases
from app.ledger.commands import Reverse


@mutation("Reverse an earn (claw back) or a spend (points return).")
async def reverse_entry(call: Call, input: ReverseEntryInput) -> PointsPosted:
    entry = await usecases.reverse_entry(
        call.runtime,
        call.actor,
        Reverse(
            entry_id=await call.target(input.entry_id, "entryId", entry_owner),
            amount=input.amount,
            reason=input.reason,
        ),
        idempotency_key=input.idempotency_key,
    )
    return await points_posted(call.ctx, entry)
