"""issueInviteCode: the member's invite code, made on the first request."""

from __future__ import annotations

from app.engagement import usecases
from app.graphql.core.mutations import Call, mutation
from app.graphql.referrals.inputs import IssueInviteCodeInput
from app.graphql.referrals.types import InviteCodeIssued


@mutation("The member's invite code, made on the first request (the same after).")
async def issue_invite_code(call: Call, input: IssueInviteCodeInput) -> InviteCodeIssued:
    member = await call.member(input.member_id)
    return InviteCodeIssued(invite_code=await usecases.issue_invite_code(call.runtime, member))
