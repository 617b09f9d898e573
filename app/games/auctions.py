"""Points auctions (积分竞拍): staff put a mall item up; members bid points; the highest valid
bid at the end wins the item through a redemption order (docs/GAMES.md).

A bid holds the bidder's points (a ledger hold). Only the leading bid holds anything: the bid
that beats it voids its hold in the same transaction, so a member never holds more than its
latest bid. Every bid and the close lock the auction row first (``FOR UPDATE``), then the
accounts they touch in id order (the bidder's and the outbid leader's), so concurrent bids are
applied one at a time and two auctions never wait for each other's accounts in a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from app.errors import DomainError, ErrorCode, invalid
from app.events.outbox import append_event, member_topic
from app.games.lifecycle import Game, GameApi, GameKind, GameService, Stake, StakeKind
from app.games.policy import (
    AuctionOutcome,
    AuctionSpec,
    AuctionStatus,
    BidStatus,
    Standing,
    check_bid,
    extended_end,
    minimum_bid,
    outcome_of,
    refuse_early,
)
from app.games.tables import auction_bids, auctions
from app.ledger.accounts import lock_account, member_status
from app.ledger.models import Actor, MemberStatus
from app.mall.catalogue import Catalogue, tier_ranks
from app.mall.policy import check_limit, check_tier
from app.mall.redemptions import Redemptions


@dataclass(frozen=True)
class Bid(Stake):
    auction_id: int
    status: BidStatus


@dataclass(frozen=True)
class Auction(Game):
    item_id: int
    scheduled_end: datetime
    starting_price: int
    min_increment: int
    reserve_price: int | None
    extend_seconds: int
    status: AuctionStatus
    outcome: AuctionOutcome | None
    leading_bid_id: int | None
    leading_member_id: int | None
    leading_amount: int | None
    bids: int
    bidders: int
    extensions: int
    order_id: int | None

    @property
    def standing(self) -> Standing:
        return Standing(
            self.status,
            self.starts_at,
            self.ends_at,
            self.starting_price,
            self.min_increment,
            self.leading_amount,
            self.leading_member_id,
        )

    @property
    def minimum_bid(self) -> int:
        return minimum_bid(self.standing)

    def figures(self) -> dict[str, Any]:
        return {
            "ends_at": self.ends_at.isoformat(),
            "leading_amount": self.leading_amount,
            "bidders": self.bidders,
        }


AUCTION = GameKind.of(auctions, Auction, AuctionStatus, AuctionOutcome)


class Auctions(GameService[Auction, Bid]):
    """Bids and the close, under the auction's row lock."""

    game, stake = AUCTION, StakeKind.of(auction_bids, Bid, BidStatus, "bid_id", "auction-bid")

    async def create(self, spec: AuctionSpec, actor: Actor) -> Auction:
        await Catalogue(self.conn, self.clock).get(spec.item_id)  # NOT_FOUND for a wrong id
        return await self.insert_game(spec, actor, scheduled_end=spec.ends_at)

    async def bid(self, actor: Actor, member_id: int, auction_id: int, amount: int) -> Bid:
        if amount <= 0:
            raise invalid("a bid must be a positive number of points", "amount")
        now = self.clock.now()
        refuse_early((await self.get(auction_id)).standing, amount, now)
        auction = await self.lock(auction_id)
        check_bid(auction.standing, member_id, amount, now)
        outbid = auction.leading_member_id
        for account in sorted({member_id, *([outbid] if outbid is not None else [])}):
            await lock_account(self.conn, account)
        await self._check_item_rules(auction, member_id, now)
        ends_at = extended_end(auction.ends_at, now, auction.extend_seconds)
        first_bid = not await self.conn.scalar(
            select(func.count())
            .select_from(auction_bids)
            .where(auction_bids.c.auction_id == auction_id, auction_bids.c.member_id == member_id)
        )
        bid = await self.place_stake(
            auction_id,
            ends_at,
            (member_id, amount, f"auction bid: {auction.name}"),
            actor,
            status=BidStatus.LEADING.value,
        )
        if auction.leading_bid_id is not None:
            await self._release(auction.leading_bid_id, BidStatus.OUTBID, "outbid", actor)
        bid_id = bid.id
        await self.conn.execute(
            auctions.update()
            .where(auctions.c.id == auction_id)
            .values(
                leading_bid_id=bid_id,
                leading_member_id=member_id,
                leading_amount=amount,
                ends_at=ends_at,
                bids=auctions.c.bids + 1,
                bidders=auctions.c.bidders + int(first_bid),
                extensions=auctions.c.extensions + int(ends_at != auction.ends_at),
            )
        )
        if outbid is not None:
            await append_event(
                self.conn,
                member_topic(outbid),
                "auction.outbid",
                {"member_id": outbid, "auction_id": auction_id, "leading_amount": amount},
            )
        await append_event(
            self.conn,
            member_topic(member_id),
            "auction.bid_placed",
            {
                "member_id": member_id,
                "auction_id": auction_id,
                "bid_id": bid_id,
                "amount": amount,
                "ends_at": ends_at.isoformat(),
            },
        )
        await self.signal(auction_id, "auction.leading_bid")
        return bid

    async def close(self, auction_id: int, actor: Actor) -> Auction:
        """At (or after) its end by the clock: the winner's hold committed into a redemption
        order, or the leading hold voided (no reserve met, no stock); an auction without a
        bid closes empty."""
        auction = await self.lock_open_due(auction_id)
        outcome = outcome_of(auction.leading_amount, auction.reserve_price)
        order_id = None
        if auction.leading_bid_id is not None:
            assert auction.leading_member_id is not None and auction.leading_amount is not None
            winner = auction.leading_member_id
            await lock_account(self.conn, winner)
            if (
                outcome is AuctionOutcome.WON
                and await member_status(self.conn, winner) is not MemberStatus.ACTIVE
            ):
                outcome = AuctionOutcome.WINNER_INACTIVE  # it may not spend: no sale
            if outcome is AuctionOutcome.WON:
                order_id = await self._fulfil(auction, winner, actor)
                if order_id is None:
                    outcome = AuctionOutcome.OUT_OF_STOCK
            if order_id is None:
                await self._release(auction.leading_bid_id, BidStatus.LOST, outcome.value, actor)
            await append_event(
                self.conn,
                member_topic(winner),
                "auction.won" if order_id is not None else "auction.lost",
                {
                    "member_id": winner,
                    "auction_id": auction_id,
                    "amount": auction.leading_amount,
                    "outcome": outcome.value,
                    "order_id": order_id,
                },
            )
        await self.mark_closed(auction_id, outcome=outcome.value, order_id=order_id)
        await self.signal(auction_id, "auction.closed")
        return await self.get(auction_id)

    # --------------------------------------------------------------------------- mechanics

    async def _check_item_rules(self, auction: Auction, member_id: int, now: datetime) -> None:
        """The item's own rules bind its auction: a tier-only item takes bids from its tier and
        above; a per-member limit already reached refuses the bid (the won order would break
        it). Read under the bidder's account lock, as the mall counts them."""
        catalogue = Catalogue(self.conn, self.clock)
        item = await catalogue.get(auction.item_id)
        if item.min_tier is not None:
            rank, ranks = await tier_ranks(self.conn, self.clock, self.rt, member_id)
            check_tier(item, rank, ranks.get(item.min_tier))
        if item.per_member_limit is not None:
            already = await catalogue.redeemed_one(member_id, item, now, self.rt.settings.timezone)
            check_limit(item, already, 1)

    async def _release(self, bid_id: int, status: BidStatus, reason: str, actor: Actor) -> None:
        bid = await self.get_stake(bid_id)
        await self.release(bid_id, bid.hold_id, status, reason, actor)

    async def _fulfil(self, auction: Auction, winner: int, actor: Actor) -> int | None:
        """The winning hold committed into a redemption order; None when the item's stock ran
        out meanwhile (nothing was written: the stock is taken before anything else)."""
        assert auction.leading_bid_id is not None and auction.leading_amount is not None
        bid = await self.get_stake(auction.leading_bid_id)
        try:
            order = await Redemptions(self.conn, self.rt).place_won(
                actor, winner, auction.item_id, auction.leading_amount, bid.hold_id
            )
        except DomainError as error:
            if error.code is not ErrorCode.OUT_OF_STOCK:
                raise
            return None
        await self.set_stake(bid.id, BidStatus.WON)
        return order.id


# ------------------------------------------------------------------------------ use cases


AUCTIONS = GameApi(Auctions)
# place_bid(rt, actor, member_id=…, auction_id=…, amount=…, idempotency_key=…)
place_bid = AUCTIONS.taking_part("games.bid", Auctions.bid)
