"""Games, live: an auction's leading bid, end and bidder count, a campaign's progress, pushed
to every watcher on every replica when a bid or pledge lands or the game closes."""

from __future__ import annotations

import strawberry

from app.games.auctions import AUCTIONS
from app.games.crowdfunding import CAMPAIGNS
from app.graphql.games.fields import live_field
from app.graphql.games.types import AuctionNode, CampaignNode


@strawberry.type
class GameSubscriptions:
    live_auction = live_field(
        "An auction now, then after every bid, anti-sniping extension and its close.",
        "liveAuction",
        AUCTIONS,
        AuctionNode,
    )
    live_campaign = live_field(
        "A campaign's progress now, then after every pledge and its close.",
        "liveCampaign",
        CAMPAIGNS,
        CampaignNode,
    )
