"""grantMakeUpCards: give a member make-up cards, idempotent on the key."""

from __future__ import annotations

from app.engagement import usecases
from app.graphql.core.mutations import Call, mutation
from app.graphql.engagement.inputs import GrantMakeUpCardsInput
from app.graphql.engagement.types import MakeUpCardsGranted


@mutation("Give a member make-up cards (staff); idempotent on the key.")
async def grant_make_up_cards(call: Call, input: GrantMakeUpCardsInput) -> MakeUpCardsGranted:
    member = await call.member(input.member_id)
    granted = await usecases.grant_makeup_cards(
        call.runtime,
        call.actor,
        member,
        input.count,
        reason=input.reason,
        idempotency_key=input.idempotency_key,
    )
    state = await usecases.streak_state(call.runtime, member)
    return MakeUpCardsGranted(makeup_cards=state.makeup_cards, replayed=granted is None)
