"""Members: the Member type (profile, channel refs, balance, lots, history, holds), the look-ups
``member`` / ``memberByRef`` / ``me``, and the member mutations.

Reading a member's points (balance, lots, history, holds, channel refs) is the ``member``
operation of the permission table, checked on each of those fields, so a Member reached through
any path (a mutation payload, a future list) is never read by someone not allowed to.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry

from app.auth.principal import PrincipalKind
from app.graphql.context import Info
from app.graphql.errors import MutationError, refusal_as_payload
from app.graphql.fields import described_field, described_mutation
from app.graphql.ledger import BalanceNode, EntryNode, HoldNode, LotNode
from app.graphql.pagination import PageInfo, decode_cursor, encode_cursor, page_size, parse_id
from app.graphql.tiers import (
    MemberTierNode,
    TierChangeNode,
    member_tier,
    member_tier_history,
)
from app.ledger import usecases as ledger_usecases
from app.members import usecases
from app.members.models import ChannelRef, Member, MemberStatus, StatusChange
from app.members.service import ProfileChanges, ProfileEditor

strawberry.enum(MemberStatus, name="MemberStatus")

READ = "member"  # the permission-table operation that guards a member's private fields
# Who edits a profile decides which facts it may change (app/members/service.py).
PROFILE_EDITORS = {
    PrincipalKind.MEMBER: ProfileEditor.MEMBER,
    PrincipalKind.PARTNER: ProfileEditor.CHANNEL,
    PrincipalKind.STAFF: ProfileEditor.STAFF,
    PrincipalKind.ANONYMOUS: ProfileEditor.MEMBER,  # refused before; the narrowest if not
}


@strawberry.type(name="ChannelRef", description="The member's id in one channel.")
class ChannelRefNode:
    channel: str
    external_ref: str

    @classmethod
    def of(cls, ref: ChannelRef) -> ChannelRefNode:
        return cls(channel=ref.channel, external_ref=ref.external_ref)


@strawberry.type(name="StatusChange", description="A freeze, unfreeze or closure.")
class StatusChangeNode:
    from_status: MemberStatus
    to_status: MemberStatus
    reason: str
    actor: str
    created_at: datetime

    @classmethod
    def of(cls, change: StatusChange) -> StatusChangeNode:
        return cls(
            from_status=change.from_status,
            to_status=change.to_status,
            reason=change.reason,
            actor=change.actor,
            created_at=change.created_at,
        )


@strawberry.type
class EntryEdge:
    cursor: str
    node: EntryNode


@strawberry.type(description="History, newest first.")
class EntryConnection:
    edges: list[EntryEdge]
    page_info: PageInfo


@strawberry.type
class LotEdge:
    cursor: str
    node: LotNode


@strawberry.type(description="Lots with points left, in the order they are spent.")
class LotConnection:
    edges: list[LotEdge]
    page_info: PageInfo


@strawberry.type(name="Member")
class MemberNode:
    model: strawberry.Private[Member]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.model.id))

    @strawberry.field
    def status(self) -> MemberStatus:
        return self.model.status

    @strawberry.field
    def status_reason(self) -> str | None:
        return self.model.status_reason

    @strawberry.field
    def name(self) -> str | None:
        return self.model.name

    @strawberry.field
    def phone(self) -> str | None:
        return self.model.phone

    @strawberry.field
    def birthday(self) -> date | None:
        return self.model.birthday

    @strawberry.field
    def timezone(self) -> str | None:
        return self.model.timezone

    @strawberry.field
    def tags(self) -> list[str]:
        return list(self.model.tags)

    @strawberry.field
    def created_at(self) -> datetime:
        return self.model.created_at

    @strawberry.field
    async def channel_refs(self, info: Info) -> list[ChannelRefNode]:
        await info.context.require_on_member(READ, self.model.id)
        refs = await info.context.loaders.channel_refs.load(self.model.id)
        return [ChannelRefNode.of(ref) for ref in refs]

    @strawberry.field
    async def balance(self, info: Info) -> BalanceNode:
        await info.context.require_on_member(READ, self.model.id)
        return BalanceNode.of(await info.context.loaders.balance.load(self.model.id))

    @described_field("Open lots, in spending order (earliest expiry first).")
    async def lots(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> LotConnection:
        ctx = info.context
        await ctx.require_on_member(READ, self.model.id)
        size = page_size(first, ctx.runtime.settings.page_size_cap)
        rows = await ledger_usecases.list_lots(
            ctx.runtime, self.model.id, first=size + 1, after_id=decode_cursor("lot", after)
        )
        edges = [LotEdge(cursor=encode_cursor("lot", lot.id), node=LotNode.of(lot)) for lot in rows]
        return LotConnection(edges=edges[:size], page_info=_page_info(edges, size))

    @described_field("Posted entries, newest first.")
    async def history(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> EntryConnection:
        ctx = info.context
        await ctx.require_on_member(READ, self.model.id)
        size = page_size(first, ctx.runtime.settings.page_size_cap)
        rows = await ledger_usecases.list_history(
            ctx.runtime, self.model.id, first=size + 1, before_id=decode_cursor("entry", after)
        )
        edges = [EntryEdge(cursor=encode_cursor("entry", e.id), node=EntryNode.of(e)) for e in rows]
        return EntryConnection(edges=edges[:size], page_info=_page_info(edges, size))

    @strawberry.field
    async def holds(self, info: Info, active_only: bool = True) -> list[HoldNode]:
        await info.context.require_on_member(READ, self.model.id)
        rows = await ledger_usecases.list_holds(
            info.context.runtime, self.model.id, active_only=active_only
        )
        return [HoldNode.of(hold) for hold in rows]

    @described_field("The member's tier, and how much more spend reaches the next one.")
    async def tier(self, info: Info) -> MemberTierNode | None:
        await info.context.require_on_member(READ, self.model.id)
        return await member_tier(info, self.model.id)

    @described_field("Tier changes, newest first.")
    async def tier_history(self, info: Info) -> list[TierChangeNode]:
        await info.context.require_on_member(READ, self.model.id)
        return await member_tier_history(info, self.model.id)

    @described_field("Freezes, unfreezes and closures, newest first, with their reasons.")
    async def status_history(self, info: Info) -> list[StatusChangeNode]:
        await info.context.require_on_member(READ, self.model.id)
        changes = await usecases.status_history(info.context.runtime, self.model.id)
        return [StatusChangeNode.of(change) for change in changes]


def _page_info(edges: list[EntryEdge] | list[LotEdge], size: int) -> PageInfo:
    # One row more than the page was asked for: its presence is hasNextPage.
    shown = edges[:size]
    return PageInfo(has_next_page=len(edges) > size, end_cursor=shown[-1].cursor if shown else None)


# -------------------------------------------------------------------------------------- queries


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

    @described_field("The calling member (member tokens only).")
    async def me(self, info: Info) -> MemberNode | None:
        info.context.require("me")
        member_id = info.context.principal.member_id
        assert member_id is not None  # only member principals pass "me"
        return MemberNode(model=await info.context.readable_member("me", member_id))


# ------------------------------------------------------------------------------------ mutations


@strawberry.type
class MemberRegistered:
    member: MemberNode
    created: bool = strawberry.field(description="False when the ref was already registered.")


@strawberry.type
class MemberPayload:
    member: MemberNode


RegisterMemberResult = Annotated[
    MemberRegistered | MutationError, strawberry.union("RegisterMemberResult")
]
LinkChannelRefResult = Annotated[
    MemberPayload | MutationError, strawberry.union("LinkChannelRefResult")
]
UpdateMemberProfileResult = Annotated[
    MemberPayload | MutationError, strawberry.union("UpdateMemberProfileResult")
]
SetMemberStatusResult = Annotated[
    MemberPayload | MutationError, strawberry.union("SetMemberStatusResult")
]


@strawberry.input(description="Registration is idempotent on (channel, externalRef).")
class RegisterMemberInput:
    channel: str
    external_ref: str
    name: str | None = None
    phone: str | None = None
    birthday: date | None = None


@strawberry.input
class LinkChannelRefInput:
    member_id: strawberry.ID
    channel: str
    external_ref: str


@strawberry.input(description="Fields left out (or null) stay as they are.")
class UpdateMemberProfileInput:
    member_id: strawberry.ID
    name: str | None = None
    phone: str | None = None
    birthday: date | None = None
    timezone: str | None = None
    tags: list[str] | None = None


@strawberry.input
class SetMemberStatusInput:
    member_id: strawberry.ID
    status: MemberStatus
    reason: str


@strawberry.type
class MemberMutations:
    @described_mutation("Register a member from a channel (or find it again).")
    async def register_member(self, info: Info, input: RegisterMemberInput) -> RegisterMemberResult:
        ctx = info.context

        async def run() -> MemberRegistered:
            ctx.require_on_channel("registerMember", input.channel)
            registration = await usecases.register_member(
                ctx.runtime,
                channel=input.channel,
                external_ref=input.external_ref,
                name=input.name,
                phone=input.phone,
                birthday=input.birthday,
            )
            return MemberRegistered(
                member=MemberNode(model=registration.member), created=registration.created
            )

        return await refusal_as_payload(run)

    @described_mutation("Link one more channel ref to an existing member.")
    async def link_channel_ref(
        self, info: Info, input: LinkChannelRefInput
    ) -> LinkChannelRefResult:
        ctx = info.context

        async def run() -> MemberPayload:
            ctx.require("linkChannelRef")
            member_id = parse_id(input.member_id, "memberId")
            await ctx.require_on_member("linkChannelRef", member_id)
            member = await usecases.link_channel_ref(
                ctx.runtime,
                member_id=member_id,
                channel=input.channel,
                external_ref=input.external_ref,
            )
            ctx.loaders.forget_member(member_id)
            return MemberPayload(member=MemberNode(model=member))

        return await refusal_as_payload(run)

    @described_mutation("Change profile fields; omitted ones stay.")
    async def update_member_profile(
        self, info: Info, input: UpdateMemberProfileInput
    ) -> UpdateMemberProfileResult:
        ctx = info.context

        async def run() -> MemberPayload:
            ctx.require("updateMemberProfile")
            member_id = parse_id(input.member_id, "memberId")
            await ctx.require_on_member("updateMemberProfile", member_id)
            changes = ProfileChanges(
                name=input.name,
                phone=input.phone,
                birthday=input.birthday,
                timezone=input.timezone,
                tags=None if input.tags is None else tuple(input.tags),
            )
            member = await usecases.update_profile(
                ctx.runtime, member_id, changes, PROFILE_EDITORS[ctx.principal.kind]
            )
            ctx.loaders.forget_member(member_id)
            return MemberPayload(member=MemberNode(model=member))

        return await refusal_as_payload(run)

    @described_mutation("Freeze, close or reactivate a member (staff).")
    async def set_member_status(
        self, info: Info, input: SetMemberStatusInput
    ) -> SetMemberStatusResult:
        ctx = info.context

        async def run() -> MemberPayload:
            ctx.require("setMemberStatus")
            member_id = parse_id(input.member_id, "memberId")
            await ctx.require_on_member("setMemberStatus", member_id)
            member = await usecases.set_status(
                ctx.runtime,
                member_id=member_id,
                status=input.status,
                reason=input.reason,
                actor=ctx.principal.name,
            )
            ctx.loaders.forget_member(member_id)
            return MemberPayload(member=MemberNode(model=member))

        return await refusal_as_payload(run)
