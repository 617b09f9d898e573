"""challengeDuel: challenge another member to a PK duel; the stake is held."""

from __future__ import annotations

from app.games import duels
from app.games.duelrules import Challenge
from app.graphql.core.inputs import parse_id
from app.graphql.core.mutations import Call, mutation
from app.graphql.games.inputs import ChallengeDuelInput
from app.graphql.games.types import DuelPayload


@mutation(
    "Challenge a member to a PK duel (积分PK赛): the stake is held until it ends.",
    result="DuelResult",
)
async def challenge_duel(call: Call, input: ChallengeDuelInput) -> DuelPayload:
    member = await call.member(input.member_id)
    asked = Challenge(
        challenger_id=member,
        opponent_id=parse_id(str(input.opponent_id), "opponentId"),
        metric=input.metric,
        stake=input.stake,
        hours=input.hours,
    )
    answered = await duels.challenge_duel(
        call.runtime, call.actor, input.rules, asked, input.idempotency_key
    )
    return await DuelPayload.of(call, member, answered)
