"""Members: the Member type (profile, channel refs, balance, lots, history, holds, tier) and the
member mutations' payloads.

Reading a member's points (balance, lots, history, holds, channel refs) is the ``member``
operation of the permission table, checked on each of those fields, so a Member reached through
any path (a mutation payload, a future list) is never read by someone not allowed to.
"""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from app.graphql.core.context import Info
from app.graphql.core.fields import described_field
from app.graphql.core.pagination import Connection, Page
from app.graphql.ledger.types import BalanceNode, EntryNode, HoldNode, LotNode
from app.graphql.members.enums import MemberStatus
from app.graphql.segments.resolvers import member_segment, member_segment_history
from app.graphql.segments.types import MemberSegmentNode, SegmentChangeNode
from app.graphql.tiers.resolvers import member_tier, member_tier_history
from app.graphql.tiers.types import MemberTierNode, TierChangeNode
from app.ledger import usecases as ledger_usecases
from app.members import usecases
from app.members.models import ChannelRef, Member, StatusChange

READ = "member"  # the permission-table operation that guards a member's private fields


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


@strawberry.type(description="History, newest first.")
class EntryConnection(Connection[EntryNode]):
    pass


@strawberry.type(description="Lots with points left, in the order they are spent.")
class LotConnection(Connection[LotNode]):
    pass


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
        page = Page.of("lot", first, after, ctx.runtime.settings.page_size_cap)
        rows = await ledger_usecases.list_lots(
            ctx.runtime, self.model.id, first=page.fetch, after_id=page.after
        )
        return page.connection(LotConnection, rows, LotNode.of)

    @described_field("Posted entries, newest first.")
    async def history(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> EntryConnection:
        ctx = info.context
        await ctx.require_on_member(READ, self.model.id)
        page = Page.of("entry", first, after, ctx.runtime.settings.page_size_cap)
        rows = await ledger_usecases.list_history(
            ctx.runtime, self.model.id, first=page.fetch, before_id=page.after
        )
        return page.connection(EntryConnection, rows, EntryNode.of)

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

    @described_field("Its RFM segment as of the last segmentation run (staff); none before.")
    async def segment(self, info: Info) -> MemberSegmentNode | None:
        return await member_segment(info, self.model.id)

    @described_field("Its changes of segment, newest first (staff).")
    async def segment_history(self, info: Info) -> list[SegmentChangeNode]:
        return await member_segment_history(info, self.model.id)

    @described_field("Freezes, unfreezes and closures, newest first, with their reasons.")
    async def status_history(self, info: Info) -> list[StatusChangeNode]:
        await info.context.require_on_member(READ, self.model.id)
        changes = await usecases.status_history(info.context.runtime, self.model.id)
        return [StatusChangeNode.of(change) for change in changes]


@strawberry.type
class MemberRegistered:
    member: MemberNode
    created: bool = strawberry.field(description="False when the ref was already registered.")


@strawberry.type
class MemberPayload:
    member: MemberNode
