"""Browsing the catalogue (with a member's offers), a member's orders, draws and tickets,
lottery pools, charities, and the checkout quote.
"""

from __future__ import annotations

import strawberry

from app.auth.principal import PrincipalKind
from app.graphql.core.context import Info
from app.graphql.core.fields import described_field
from app.graphql.core.inputs import parse_id
from app.graphql.core.pagination import Page, page_size
from app.graphql.mall.enums import OrderStatus
from app.graphql.mall.inputs import CheckoutQuoteInput, MallItemFilter, RedemptionQuoteInput
from app.graphql.mall.types import (
    CharityNode,
    CheckoutQuoteNode,
    DrawNode,
    MallItemConnection,
    MallItemNode,
    OfferNode,
    PoolNode,
    QuotedLotNode,
    RedemptionConnection,
    RedemptionNode,
    RedemptionQuoteNode,
    TicketNode,
)
from app.mall import catalogue, checkout, donations, lottery
from app.mall import usecases as redemptions
from app.mall.catalogue import BrowseFilter
from app.mall.policy import Item, Offer


@strawberry.type
class MallQueries:
    @described_field("Browse the catalogue; with forMemberId, what that member may redeem.")
    async def mall_items(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: MallItemFilter | None = None,
    ) -> MallItemConnection:
        ctx = info.context
        ctx.require("mallItems")
        where = filter or MallItemFilter()
        page = Page.of("item", first, after, ctx.runtime.settings.page_size_cap)
        member_id = (
            None if where.for_member_id is None else parse_id(where.for_member_id, "forMemberId")
        )
        max_points = where.max_points
        if member_id is not None:
            await ctx.readable_member("mallItems", member_id)
            if where.affordable_only:
                available = (await ctx.loaders.balance.load(member_id)).available
                max_points = available if max_points is None else min(max_points, available)
        items = await catalogue.browse(
            ctx.runtime,
            BrowseFilter(
                kinds=tuple(where.kinds or ()),
                on_sale_only=where.on_sale_only,
                max_points=max_points,
                codes=tuple(where.codes or ()),
            ),
            after_id=page.after,
            first=page.fetch,
        )
        now = ctx.runtime.clock.now()
        offers: dict[int, Offer] = {}
        shown = list(page.shown(items))
        if member_id is not None and shown:
            available = (await ctx.loaders.balance.load(member_id)).available
            offers = await catalogue.member_offers(ctx.runtime, member_id, available, shown, now)

        def node(item: Item) -> MallItemNode:
            offer = offers.get(item.id)
            return MallItemNode(
                item=item, now=now, offer=None if offer is None else OfferNode.of(offer)
            )

        return page.connection(MallItemConnection, items, node)

    @described_field("A member's redemption orders, newest first.")
    async def redemptions(
        self,
        info: Info,
        member_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
        status: OrderStatus | None = None,
    ) -> RedemptionConnection:
        ctx = info.context
        ctx.require("redemptions")
        member = parse_id(member_id, "memberId")
        await ctx.readable_member("redemptions", member)
        return await _orders_page(info, member, first, after, status)

    @described_field("Every member's redemption orders, newest first (staff).")
    async def mall_orders(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: OrderStatus | None = None,
    ) -> RedemptionConnection:
        info.context.require("mallOrders")
        return await _orders_page(info, None, first, after, status)

    @described_field("A lottery pool with its published odds (null for an unknown code).")
    async def lottery_pool(self, info: Info, code: str) -> PoolNode | None:
        ctx = info.context
        ctx.require("lotteryPool")
        pools = [p for p in await lottery.list_pools(ctx.runtime) if p.code == code]
        return PoolNode.of(pools[0]) if pools else None

    @described_field("Every lottery pool with its prizes and odds (staff).")
    async def lottery_pools(self, info: Info) -> list[PoolNode]:
        info.context.require("lotteryPools")
        return [PoolNode.of(pool) for pool in await lottery.list_pools(info.context.runtime)]

    @described_field("A member's draws (newest first) and free-draw tickets: the audit trail.")
    async def lottery_draws(
        self, info: Info, member_id: strawberry.ID, first: int | None = None
    ) -> list[DrawNode]:
        ctx = info.context
        ctx.require("lotteryDraws")
        member = parse_id(member_id, "memberId")
        await ctx.readable_member("lotteryDraws", member)
        size = page_size(first, ctx.runtime.settings.page_size_cap)
        return [DrawNode.of(d) for d in await lottery.list_draws(ctx.runtime, member, first=size)]

    @described_field("A member's free-draw tickets, newest first.")
    async def draw_tickets(
        self, info: Info, member_id: strawberry.ID, open_only: bool = True
    ) -> list[TicketNode]:
        ctx = info.context
        ctx.require("drawTickets")
        member = parse_id(member_id, "memberId")
        await ctx.readable_member("drawTickets", member)
        tickets = await lottery.list_tickets(ctx.runtime, member, open_only=open_only)
        return [TicketNode.of(t) for t in tickets]

    @described_field("Charities with their running totals.")
    async def charities(self, info: Info) -> list[CharityNode]:
        info.context.require("charities")
        return [CharityNode.of(c) for c in await donations.list_charities(info.context.runtime)]

    @described_field("How much of a basket the member's points may pay (抵现).")
    async def checkout_quote(self, info: Info, input: CheckoutQuoteInput) -> CheckoutQuoteNode:
        ctx = info.context
        ctx.require("checkoutQuote")
        member = parse_id(input.member_id, "memberId")
        if ctx.principal.kind is PrincipalKind.PARTNER:
            ctx.require_on_channel("checkoutQuote", input.channel, member)
        await ctx.readable_member("checkoutQuote", member)
        q = await checkout.quote(ctx.runtime, member, input.amount, input.points)
        return CheckoutQuoteNode(
            max_points=q.max_points,
            cash_value=q.cash_value,
            rest_to_pay=q.rest_to_pay,
            points=q.points,
            value=q.value,
            lots=[QuotedLotNode.of(lot) for lot in q.lots],
        )

    @described_field(
        "What an item costs the member now under the point's value policy, lot by lot "
        '(docs/ANALYTICS.md, "Point value").'
    )
    async def redemption_quote(
        self, info: Info, input: RedemptionQuoteInput
    ) -> RedemptionQuoteNode:
        ctx = info.context
        ctx.require("redemptionQuote")
        member = parse_id(input.member_id, "memberId")
        await ctx.readable_member("redemptionQuote", member)
        q = await redemptions.quote_redemption(
            ctx.runtime, member, parse_id(input.item_id, "itemId"), input.quantity
        )
        return RedemptionQuoteNode.of(q)


async def _orders_page(
    info: Info,
    member_id: int | None,
    first: int | None,
    after: str | None,
    status: OrderStatus | None,
) -> RedemptionConnection:
    """A page of one member's orders, or every member's (``member_id`` None), newest first."""
    ctx = info.context
    page = Page.of("redemption", first, after, ctx.runtime.settings.page_size_cap)
    orders = await redemptions.list_orders(
        ctx.runtime, member_id, first=page.fetch, before_id=page.after, status=status
    )
    return page.connection(RedemptionConnection, orders, RedemptionNode.of)
