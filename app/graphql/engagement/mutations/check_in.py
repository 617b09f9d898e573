"""checkIn: sign in for today, once a business day; pays the schedule."""

from __future__ import annotations

from app.engagement import usecases
from app.graphql.core.mutations import Call, mutation
from app.graphql.engagement.inputs import CheckInInput
from app.graphql.engagement.types import CheckedIn, SignInNode
from app.graphql.ledger.types import EntryNode


@mutation("Sign in for today (the programme's business day): once a day.", status_under_lock=True)
async def check_in(call: Call, input: CheckInInput) -> CheckedIn:
    member = await call.member(input.member_id)
    # The one statement signs in an active member only (its status read under the account's
    # lock): the member's standing is read only when it declines.
    result = await usecases.check_in(
        call.runtime, call.actor, member, admit=call.settle_standing_as_if_first
    )
    return CheckedIn(
        sign_in=SignInNode.of(result.sign_in),
        entry=None if result.entry is None else EntryNode.of(result.entry),
        member_id=member,
    )
