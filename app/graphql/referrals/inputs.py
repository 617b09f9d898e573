"""The referral mutations' inputs."""

from __future__ import annotations

import strawberry


@strawberry.input
class AcceptInviteInput:
    member_id: strawberry.ID = strawberry.field(description="The new member (the friend).")
    invite_code: str


@strawberry.input
class IssueInviteCodeInput:
    member_id: strawberry.ID
