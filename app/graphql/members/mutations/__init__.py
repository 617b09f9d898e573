"""The member mutations, one a module; the members' share of the Mutation type."""

from __future__ import annotations

import strawberry

from app.graphql.members.mutations.link_channel_ref import link_channel_ref
from app.graphql.members.mutations.register_member import register_member
from app.graphql.members.mutations.set_member_status import set_member_status
from app.graphql.members.mutations.update_member_profile import update_member_profile


@strawberry.type
class MemberMutations:
    register_member = register_member
    link_channel_ref = link_channel_ref
    update_member_profile = update_member_profile
    set_member_status = set_member_status
