"""acceptInvite: a new member accepts an invite code."""

from __future__ import annotations

from app.engagement import usecases
from app.graphql.core.mutations import Call, mutation
from app.graphql.referrals.inputs import AcceptInviteInput
from app.graphql.referrals.types import FriendNode, InviteAccepted


@mutation("A new member accepts an invite code (once; not its own).")
async def accept_invite(call: Call, input: AcceptInviteInput) -> InviteAccepted:
    member = await call.member(input.member_id)
    referral = await usecases.accept_invite(call.runtime, call.actor, member, input.invite_code)
    return InviteAccepted(referral=FriendNode.of(referral))
