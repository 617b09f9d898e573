"""commitHold: turn an active hold into a spend."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.ledger.guards import hold_owner
from app.graphql.ledger.inputs import CommitHoldInput
from app.graphql.ledger.resolvers import points_posted
from app.graphql.ledger.types import PointsPosted
from app.ledger import usecases
from app.ledger.commands import CommitHold


@mutation("Turn an active hold into a spend.")
async def commit_hold(call: Call, input: CommitHoldInput) -> PointsPosted:
    entry = await usecases.commit_hold(
        call.runtime,
        call.actor,
        CommitHold(hold_id=await call.target(input.hold_id, "holdId", hold_owner)),
        idempotency_key=input.idempotency_key,
    )
    return await points_posted(call.ctx, entry)
