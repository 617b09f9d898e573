"""makeUpSignIn: fill a missed day of this month with a make-up card."""

from __future__ import annotations

from app.engagement import usecases
from app.graphql.core.mutations import Call, mutation
from app.graphql.engagement.inputs import MakeUpSignInInput
from app.graphql.engagement.resolvers import streak_of
from app.graphql.engagement.types import MadeUp, SignInNode


@mutation("Fill a missed day of this month with a make-up card (pays nothing).")
async def make_up_sign_in(call: Call, input: MakeUpSignInInput) -> MadeUp:
    member = await call.member(input.member_id)
    made = await usecases.make_up_sign_in(call.runtime, call.actor, member, input.day)
    return MadeUp(sign_in=SignInNode.of(made), streak=await streak_of(call.ctx, member))
