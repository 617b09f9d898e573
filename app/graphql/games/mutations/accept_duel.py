"""acceptDuel: the challenged member accepts; its stake is held and the window starts."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.games.inputs import AnswerDuelInput
from app.graphql.games.types import DuelPayload


@mutation("Accept a PK duel: your stake is held and the window starts now.", result="DuelResult")
async def accept_duel(call: Call, input: AnswerDuelInput) -> DuelPayload:
    return await DuelPayload.answer(call, input, accept=True)
