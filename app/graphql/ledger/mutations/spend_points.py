"""spendPoints: debit available points."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.ledger.inputs import SpendPointsInput
from app.graphql.ledger.resolvers import points_posted
from app.graphql.ledger.types import PointsPosted
from app.ledger import usecases
from app.ledger.commands import Spend


@mutation("Debit available points, oldest-expiring first.")
async def spend_points(call: Call, input: SpendPointsInput) -> PointsPosted:
    entry = await usecases.spend_points(
        call.runtime,
        call.actor,
        Spend(
            member_id=await call.member(input.member_id),
            amount=input.amount,
            reason=input.reason,
            reference=input.reference,
        ),
        idempotency_key=input.idempotency_key,
    )
    return await points_posted(call.ctx, entry)
