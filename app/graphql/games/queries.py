"""Auctions and crowdfunding campaigns (open or all), and a member's bids and pledges."""

from __future__ import annotations

import strawberry

from app.games.auctions import AUCTIONS
from app.games.crowdfunding import CAMPAIGNS
from app.graphql.games.fields import game_field, games_field, stakes_field
from app.graphql.games.types import AuctionNode, BidNode, CampaignNode, PledgeNode


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
