"""Games, live: an auction's leading bid, end and bidder count, a campaign's progress, pushed
to every watcher on every replica when a bid or pledge lands or the game closes."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import TypeVar

import strawberry

from app.errors import not_found
from app.games import auctions, crowdfunding
from app.graphql.core.context import Info
from app.graphql.core.fields import described_subscription
from app.graphql.core.inputs import parse_id
from app.graphql.core.subscriptions import state_on_change
from app.graphql.games.queries import read_one
from app.graphql.games.types import AuctionNode, CampaignNode
from app.runtime import Runtime

Game = TypeVar("Game")
Node = TypeVar("Node")


async def following(
    info: Info,
    operation: str,
    raw_id: strawberry.ID,
    topic: Callable[[int], str],
    load: Callable[[Runtime, int], Awaitable[Game]],
    of: Callable[[Game], Node],
) -> AsyncIterator[Node]:
    """The game now, then re-read after every burst of its change signals."""
    ctx = info.context
    ident = parse_id(str(raw_id), "id")

    async def read() -> Node:
        ctx.renew_loaders()  # names read afresh for each frame
        found = await read_one(info, operation, raw_id, load)
        if found is None:
            raise not_found(operation.removeprefix("live").lower(), ident, "id")
        return of(found)

    async for current in state_on_change(ctx, topic(ident), read):
        yield current


@strawberry.type
class GameSubscriptions:
    @described_subscription(
        "An auction now, then after every bid, anti-sniping extension and its close."
    )
    async def live_auction(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[AuctionNode, None]:
        async for frame in following(
            info, "liveAuction", id, auctions.auction_topic, auctions.get_auction, AuctionNode.of
        ):
            yield frame

    @described_subscription("A campaign's progress now, then after every pledge and its close.")
    async def live_campaign(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[CampaignNode, None]:
        async for frame in following(
            info,
            "liveCampaign",
            id,
            crowdfunding.campaign_topic,
            crowdfunding.get_campaign,
            CampaignNode.of,
        ):
            yield frame
