"""The referral mutations, one a module; referrals' share of the Mutation type."""

from __future__ import annotations

import strawberry

from app.graphql.referrals.mutations.accept_invite import accept_invite
from app.graphql.referrals.mutations.issue_invite_code import issue_invite_code


@strawberry.type
class ReferralMutations:
    accept_invite = accept_invite
    issue_invite_code = issue_invite_code
