"""adjustPoints: a staff correction."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.ledger.inputs import AdjustPointsInput
from app.graphql.ledger.resolvers import points_posted
from app.graphql.ledger.types import PointsPosted
from app.ledger import usecases
from app.ledger.commands import Adjust


@mutation("Staff correction, credit or debit, with a mandatory reason.")
async def adjust_points(call: Call, input: AdjustPointsInput) -> PointsPosted:
    entry = await usecases.adjust_points(
        call.runtime,
        call.actor,
        Adjust(
            member_id=await call.member(input.member_id), amount=input.amount, reason=input.reason
        ),
        idempotency_key=input.idempotency_key,
    )
    return await points_posted(call.ctx, entry)
