"""placeBid: bid points on an auction; the points are held while the bid leads."""

from __future__ import annotations

from app.games import auctions
from app.graphql.core.inputs import parse_id
from app.graphql.core.mutations import Call, mutation
from app.graphql.games.inputs import PlaceBidInput
from app.graphql.games.types import AuctionNode, BidNode, BidPayload
from app.graphql.ledger.resolvers import balance_after_write


@mutation("Bid on an auction: the points are held; being outbid releases them at once.")
async def place_bid(call: Call, input: PlaceBidInput) -> BidPayload:
    member = await call.member(input.member_id)
    placed = await auctions.place_bid(
        call.runtime,
        call.actor,
        member_id=member,
        auction_id=parse_id(str(input.auction_id), "auctionId"),
        amount=input.amount,
        idempotency_key=input.idempotency_key,
    )
    return BidPayload(
        bid=BidNode.of(placed.bid),
        auction=AuctionNode.of(placed.auction),
        replayed=placed.replayed,
        balance=await balance_after_write(call.ctx, member),
    )
