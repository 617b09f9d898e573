"""A member's invite code, referrer and friends."""

from __future__ import annotations

import strawberry

from app.engagement import usecases
from app.graphql.core.context import Info
from app.graphql.core.fields import described_field, node_id
from app.graphql.core.inputs import parse_id
from app.graphql.referrals.types import FriendNode, ReferralsNode


@strawberry.type
class ReferralQueries:
    @described_field("The member's invite code (once issued), referrer and friends.")
    async def referrals(self, info: Info, member_id: strawberry.ID) -> ReferralsNode:
        member = parse_id(str(member_id), "memberId")
        await info.context.readable_member("referrals", member)
        summary = await usecases.referral_summary(info.context.runtime, member)
        return ReferralsNode(
            invite_code=summary.invite_code,
            referrer_id=None if summary.referrer_id is None else node_id(summary.referrer_id),
            friends=[FriendNode.of(f) for f in summary.friends],
            rewarded_this_month=summary.rewarded_this_month,
            monthly_cap=summary.monthly_cap,
        )
