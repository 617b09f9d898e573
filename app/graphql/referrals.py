"""Referrals: a member's invite code and friends, accepting an invite (docs/ENGAGEMENT.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from app.engagement import usecases
from app.engagement.referrals import Referral
from app.graphql.context import Info
from app.graphql.errors import MutationError, refusal_as_payload
from app.graphql.fields import described_field, described_mutation
from app.graphql.pagination import parse_id


def _id(value: int) -> strawberry.ID:
    return strawberry.ID(str(value))


@strawberry.type(name="ReferredFriend")
class FriendNode:
    friend_id: strawberry.ID
    referrer_id: strawberry.ID
    status: str = strawberry.field(description="pending until the first purchase, then rewarded.")
    referrer_rewarded: bool = strawberry.field(
        description="False when the referrer's monthly cap was reached."
    )
    created_at: datetime
    rewarded_at: datetime | None

    @classmethod
    def of(cls, r: Referral) -> FriendNode:
        return cls(
            friend_id=_id(r.friend_id),
            referrer_id=_id(r.referrer_id),
            status=r.status,
            referrer_rewarded=r.referrer_rewarded,
            created_at=r.created_at,
            rewarded_at=r.rewarded_at,
        )


@strawberry.type(name="Referrals", description="A member's invite code, referrer and friends.")
class ReferralsNode:
    invite_code: str | None = strawberry.field(
        description="Null until the member asked for one with issueInviteCode."
    )
    referrer_id: strawberry.ID | None
    friends: list[FriendNode]
    rewarded_this_month: int
    monthly_cap: int


@strawberry.input
class AcceptInviteInput:
    member_id: strawberry.ID = strawberry.field(description="The new member (the friend).")
    invite_code: str


@strawberry.type(description="The member now has a referrer; both are paid on its first purchase.")
class InviteAccepted:
    referral: FriendNode


AcceptInviteResult = Annotated[
    InviteAccepted | MutationError, strawberry.union("AcceptInviteResult")
]


@strawberry.input
class IssueInviteCodeInput:
    member_id: strawberry.ID


@strawberry.type(description="The member's invite code: made on the first request, then kept.")
class InviteCodeIssued:
    invite_code: str


IssueInviteCodeResult = Annotated[
    InviteCodeIssued | MutationError, strawberry.union("IssueInviteCodeResult")
]


@strawberry.type
class ReferralQueries:
    @described_field("The member's invite code (once issued), referrer and friends.")
    async def referrals(self, info: Info, member_id: strawberry.ID) -> ReferralsNode:
        member = parse_id(str(member_id), "memberId")
        await info.context.readable_member("referrals", member)
        summary = await usecases.referral_summary(info.context.runtime, member)
        return ReferralsNode(
            invite_code=summary.invite_code,
            referrer_id=None if summary.referrer_id is None else _id(summary.referrer_id),
            friends=[FriendNode.of(f) for f in summary.friends],
            rewarded_this_month=summary.rewarded_this_month,
            monthly_cap=summary.monthly_cap,
        )


@strawberry.type
class ReferralMutations:
    @described_mutation("A new member accepts an invite code (once; not its own).")
    async def accept_invite(self, info: Info, input: AcceptInviteInput) -> AcceptInviteResult:
        ctx = info.context

        async def run() -> InviteAccepted:
            member = parse_id(str(input.member_id), "memberId")
            await ctx.require_on_member("acceptInvite", member)
            referral = await usecases.accept_invite(
                ctx.runtime, ctx.principal.to_actor(), member, input.invite_code
            )
            return InviteAccepted(referral=FriendNode.of(referral))

        return await refusal_as_payload(run)

    @described_mutation("The member's invite code, made on the first request (the same after).")
    async def issue_invite_code(
        self, info: Info, input: IssueInviteCodeInput
    ) -> IssueInviteCodeResult:
        ctx = info.context

        async def run() -> InviteCodeIssued:
            member = parse_id(str(input.member_id), "memberId")
            await ctx.require_on_member("issueInviteCode", member)
            return InviteCodeIssued(
                invite_code=await usecases.issue_invite_code(ctx.runtime, member)
            )

        return await refusal_as_payload(run)
