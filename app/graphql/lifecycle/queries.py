"""The lifecycle policy, the coalition partners and a member's notifications."""

from __future__ import annotations

import strawberry

from app.graphql.core.context import Info
from app.graphql.core.fields import described_field
from app.graphql.core.inputs import parse_id
from app.graphql.core.pagination import Page
from app.graphql.lifecycle.types import (
    BankMoveNode,
    ExchangePartnerNode,
    LifecyclePolicyNode,
    NotificationConnection,
    NotificationNode,
    PointsBankNode,
)
from app.ledger.expiry import programme_policy
from app.lifecycle import bank, exchange
from app.lifecycle import notifications as notes

NOTIFICATIONS = "notifications"


PARTNERS = "exchangePartners"


POLICY = "lifecyclePolicy"


@strawberry.type
class LifecycleQueries:
    @described_field("The programme's expiry policy, reminder days and gift limits.")
    def lifecycle_policy(self, info: Info) -> LifecyclePolicyNode:
        info.context.require(POLICY)
        settings = info.context.runtime.settings
        policy = programme_policy(settings)
        return LifecyclePolicyNode(
            expiry_policy=policy.text,
            expiry_description=policy.describe(),
            reminder_days=sorted(set(settings.expiry_reminder_days), reverse=True),
            gift_max_points=settings.gift_max_points,
            gift_daily_limit=settings.gift_daily_limit,
            timezone=settings.timezone,
        )

    @described_field("The coalition partners, their rates and limits (staff).")
    async def exchange_partners(self, info: Info) -> list[ExchangePartnerNode]:
        info.context.require(PARTNERS)
        return [
            ExchangePartnerNode.of(p) for p in await exchange.list_partners(info.context.runtime)
        ]

    @described_field("A member's notifications, newest first (unread only on request).")
    async def notifications(
        self,
        info: Info,
        member_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
        unread_only: bool = False,
    ) -> NotificationConnection:
        ctx = info.context
        member = parse_id(str(member_id), "memberId")
        await ctx.readable_member(NOTIFICATIONS, member)
        page = Page.of("notification", first, after, ctx.runtime.settings.page_size_cap)
        rows = await notes.list_notifications(
            ctx.runtime, member, first=page.fetch, before_id=page.after, unread_only=unread_only
        )
        edges, page_info = page.edges(rows, NotificationNode.of)
        return NotificationConnection(
            edges=edges,
            page_info=page_info,
            unread_count=await notes.unread_count(ctx.runtime, member),
        )

    @described_field("The points bank: the pool of expired points and what was spent of it.")
    async def points_bank(self, info: Info) -> PointsBankNode:
        info.context.require("pointsBank")
        return PointsBankNode.of(await bank.pool(info.context.runtime))

    @described_field("A member's moves of expiring points into donations or tickets.")
    async def bank_moves(self, info: Info, member_id: strawberry.ID) -> list[BankMoveNode]:
        ctx = info.context
        member = parse_id(str(member_id), "memberId")
        await ctx.readable_member("bankMoves", member)
        return [BankMoveNode.of(m) for m in await bank.list_moves(ctx.runtime, member)]
