"""createAuction: put a mall item up for a points auction."""

from __future__ import annotations

from app.games.auctions import AUCTIONS
from app.games.policy import AuctionSpec
from app.graphql.core.mutations import Call, mutation
from app.graphql.games.inputs import CreateAuctionInput
from app.graphql.games.resolvers import spec_of
from app.graphql.games.types import AuctionNode, AuctionPayload


@mutation("Put a mall item up for a points auction (staff).", result="AuctionResult")
async def create_auction(call: Call, input: CreateAuctionInput) -> AuctionPayload:
    spec = spec_of(AuctionSpec, input, item_id="itemId")
    auction = await AUCTIONS.create(call.runtime, call.actor, spec)
    return AuctionPayload(auction=AuctionNode.of(auction))
