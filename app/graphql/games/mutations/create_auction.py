"""createAuction: put a mall item up for a points auction."""

from __future__ import annotations

from app.games import auctions
from app.games.policy import AuctionSpec
from app.graphql.core.inputs import parse_id
from app.graphql.core.mutations import Call, mutation
from app.graphql.games.inputs import CreateAuctionInput
from app.graphql.games.types import AuctionNode, AuctionPayload


@mutation("Put a mall item up for a points auction (staff).", result="AuctionResult")
async def create_auction(call: Call, input: CreateAuctionInput) -> AuctionPayload:
    spec = AuctionSpec(
        code=input.code,
        name=input.name,
        item_id=parse_id(str(input.item_id), "itemId"),
        starts_at=input.starts_at,
        ends_at=input.ends_at,
        starting_price=input.starting_price,
        min_increment=input.min_increment,
        reserve_price=input.reserve_price,
        extend_seconds=input.extend_seconds,
    )
    auction = await auctions.create_auction(call.runtime, call.actor, spec)
    return AuctionPayload(auction=AuctionNode.of(auction))
