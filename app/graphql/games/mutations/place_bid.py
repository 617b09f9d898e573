"""placeBid: bid points on an auction; the points are held while the bid leads."""

from __future__ import annotations

from app.games import auctions
from app.graphql.core.mutations import Call, mutation
from app.graphql.games.inputs import PlaceBidInput
from app.graphql.games.resolvers import take_part
from app.graphql.games.types import AuctionNode, BidNode, BidPayload


@mutation("Bid on an auction: the points are held; being outbid releases them at once.")
async def place_bid(call: Call, input: PlaceBidInput) -> BidPayload:
    placed, balance = await take_part(
        call, input, "auction", auctions.place_bid, amount=input.amount
    )
    return BidPayload(
        bid=BidNode.of(placed.stake),
        auction=AuctionNode.of(placed.game),
        replayed=placed.replayed,
        balance=balance,
    )
