"""Auctions and crowdfunding campaigns (open or all), and a member's bids and pledges."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import strawberry

from app.errors import DomainError, ErrorCode
from app.games import auctions, crowdfunding
from app.graphql.core.context import Info
from app.graphql.core.fields import described_field
from app.graphql.core.inputs import parse_id
from app.graphql.core.pagination import page_size
from app.graphql.games.types import AuctionNode, BidNode, CampaignNode, PledgeNode
from app.runtime import Runtime

Game = TypeVar("Game")


async def read_one(
    info: Info,
    operation: str,
    raw_id: strawberry.ID,
    load: Callable[[Runtime, int], Awaitable[Game]],
) -> Game | None:
    """A game by id, for anyone signed in who may call ``operation`` (None if there is none)."""
    ctx = info.context
    ctx.require(operation)
    try:
        return await load(ctx.runtime, parse_id(str(raw_id), "id"))
    except DomainError as error:
        if error.code is not ErrorCode.NOT_FOUND:
            raise
        return None


@strawberry.type
class GameQueries:
    @described_field("Auctions, soonest end first: the open ones, or all (openOnly: false).")
    async def auctions(
        self, info: Info, open_only: bool = True, first: int | None = None
    ) -> list[AuctionNode]:
        ctx = info.context
        ctx.require("auctions")
        size = page_size(first, ctx.runtime.settings.page_size_cap)
        found = await auctions.list_auctions(ctx.runtime, open_only=open_only, first=size)
        return [AuctionNode.of(a) for a in found]

    @described_field("An auction by id (null for an unknown id).")
    async def auction(self, info: Info, id: strawberry.ID) -> AuctionNode | None:
        found = await read_one(info, "auction", id, auctions.get_auction)
        return None if found is None else AuctionNode.of(found)

    @described_field("A member's bids, newest first, with their state.")
    async def auction_bids(
        self, info: Info, member_id: strawberry.ID, first: int | None = None
    ) -> list[BidNode]:
        ctx = info.context
        ctx.require("auctionBids")
        member = parse_id(member_id, "memberId")
        await ctx.readable_member("auctionBids", member)
        size = page_size(first, ctx.runtime.settings.page_size_cap)
        return [BidNode.of(b) for b in await auctions.list_bids(ctx.runtime, member, first=size)]

    @described_field("Crowdfunding campaigns, soonest deadline first: open ones, or all.")
    async def campaigns(
        self, info: Info, open_only: bool = True, first: int | None = None
    ) -> list[CampaignNode]:
        ctx = info.context
        ctx.require("campaigns")
        size = page_size(first, ctx.runtime.settings.page_size_cap)
        found = await crowdfunding.list_campaigns(ctx.runtime, open_only=open_only, first=size)
        return [CampaignNode.of(c) for c in found]

    @described_field("A campaign by id (null for an unknown id).")
    async def campaign(self, info: Info, id: strawberry.ID) -> CampaignNode | None:
        found = await read_one(info, "campaign", id, crowdfunding.get_campaign)
        return None if found is None else CampaignNode.of(found)

    @described_field("A member's pledges, newest first, with their state.")
    async def campaign_pledges(
        self, info: Info, member_id: strawberry.ID, first: int | None = None
    ) -> list[PledgeNode]:
        ctx = info.context
        ctx.require("campaignPledges")
        member = parse_id(member_id, "memberId")
        await ctx.readable_member("campaignPledges", member)
        size = page_size(first, ctx.runtime.settings.page_size_cap)
        found = await crowdfunding.list_pledges(ctx.runtime, member, first=size)
        return [PledgeNode.of(p) for p in found]
