"""Referrals: a member's invite code and friends (docs/ENGAGEMENT.md)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.engagement.referrals import Referral
from app.graphql.core.fields import node_id


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
            friend_id=node_id(r.friend_id),
            referrer_id=node_id(r.referrer_id),
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


@strawberry.type(description="The member now has a referrer; both are paid on its first purchase.")
class InviteAccepted:
    referral: FriendNode


@strawberry.type(description="The member's invite code: made on the first request, then kept.")
class InviteCodeIssued:
    invite_code: str
