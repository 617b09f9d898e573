"""The look-ups ``member``, ``memberByRef``, ``membersByPhone`` and ``me``."""

from __future__ import annotations

import strawberry

from app.graphql.core.context import Info
from app.graphql.core.fields import described_field
from app.graphql.core.inputs import parse_id
from app.graphql.members.types import MemberNode
from app.members import usecases


@strawberry.type
class MemberQueries:
    @described_field("A member by id.")
    async def member(self, info: Info, id: strawberry.ID) -> MemberNode | None:
        info.context.require("member")
        member_id = parse_id(id, "id")
        return MemberNode(model=await info.context.readable_member("member", member_id))

    @described_field("A member by its reference in a channel.")
    async def member_by_ref(self, info: Info, channel: str, external_ref: str) -> MemberNode | None:
        info.context.require_on_channel("memberByRef", channel)
        member = await usecases.find_member_by_ref(info.context.runtime, channel, external_ref)
        return MemberNode(model=member)

    @described_field("Members whose phone is this one, as stored (staff; a phone is not unique).")
    async def members_by_phone(self, info: Info, phone: str, first: int = 20) -> list[MemberNode]:
        info.context.require("membersByPhone")
        limit = min(max(first, 1), info.context.runtime.settings.page_size_cap)
        found = await usecases.find_members_by_phone(info.context.runtime, phone, limit)
        return [MemberNode(model=member) for member in found]

    @described_field("The calling member (member tokens only).")
    async def me(self, info: Info) -> MemberNode | None:
        info.context.require("me")
        member_id = info.context.principal.member_id
        assert member_id is not None  # only member principals pass "me"
        return MemberNode(model=await info.context.readable_member("me", member_id))
