"""declineDuel: the challenged member says no; the challenger's stake comes back."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.games.inputs import AnswerDuelInput
from app.graphql.games.types import DuelPayload


@mutation("Decline a PK duel: the challenger's stake is released.", result="DuelResult")
async def decline_duel(call: Call, input: AnswerDuelInput) -> DuelPayload:
    return await DuelPayload.answer(call, input, accept=False)
