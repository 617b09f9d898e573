"""Auctions and crowdfunding campaigns (open or all), and a member's bids and pledges."""

from __future__ import annotations

import strawberry

from app.games import duels, quests
from app.games.auctions import AUCTIONS
from app.games.crowdfunding import CAMPAIGNS
from app.graphql.core.context import Info
from app.graphql.core.fields import described_field
from app.graphql.core.inputs import parse_id
from app.graphql.core.pagination import page_size
from app.graphql.games.fields import game_field, games_field, stakes_field
from app.graphql.games.types import (
    AuctionNode,
    BidNode,
    CampaignNode,
    DuelNode,
    DuelRulesNode,
    PledgeNode,
    QuestNode,
    QuestStandingNode,
)


@strawberry.type
class GameQueries:
    auctions = games_field(
        "Auctions, soonest end first: the open ones, or all (openOnly: false).",
        "auctions",
        AUCTIONS,
        AuctionNode,
    )
    auction = game_field(
        "An auction by id (null for an unknown id).", "auction", AUCTIONS, AuctionNode
    )
    auction_bids = stakes_field(
        "A member's bids, newest first, with their state.", "auctionBids", AUCTIONS, BidNode
    )
    campaigns = games_field(
        "Crowdfunding campaigns, soonest deadline first: open ones, or all.",
        "campaigns",
        CAMPAIGNS,
        CampaignNode,
    )
    campaign = game_field(
        "A campaign by id (null for an unknown id).", "campaign", CAMPAIGNS, CampaignNode
    )
    campaign_pledges = stakes_field(
        "A member's pledges, newest first, with their state.",
        "campaignPledges",
        CAMPAIGNS,
        PledgeNode,
    )

    @described_field("Every set of PK duel rules, by code: what a challenge may ask.")
    async def duel_rules(self, info: Info) -> list[DuelRulesNode]:
        info.context.require("duelRules")
        return [DuelRulesNode.of(r) for r in await duels.list_duel_rules(info.context.runtime)]

    @described_field("A member's PK duels (challenged or challenging), newest first, scored.")
    async def duels(
        self, info: Info, member_id: strawberry.ID, first: int | None = None
    ) -> list[DuelNode]:
        ctx = info.context
        ctx.require("duels")
        member = parse_id(member_id, "memberId")
        await ctx.readable_member("duels", member)
        size = page_size(first, ctx.runtime.settings.page_size_cap)
        found = await duels.member_duels(ctx.runtime, member, first=size)
        return [DuelNode.of(s) for s in found]

    @described_field("Every quest (积分任务闯关) with its levels, in order.")
    async def quests(self, info: Info) -> list[QuestNode]:
        info.context.require("quests")
        return [QuestNode.of(q) for q in await quests.list_quests(info.context.runtime)]

    @described_field("A member in every quest: the levels finished, the current one's progress.")
    async def quest_progress(self, info: Info, member_id: strawberry.ID) -> list[QuestStandingNode]:
        ctx = info.context
        ctx.require("questProgress")
        member = parse_id(member_id, "memberId")
        await ctx.readable_member("questProgress", member)
        found = await quests.quest_standings(ctx.runtime, member)
        return [QuestStandingNode.of(s) for s in found]
