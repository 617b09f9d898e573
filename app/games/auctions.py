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
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import unit_of_work
from app.errors import DomainError, ErrorCode, invalid, not_found
from app.events.outbox import SIGNAL_PREFIX, append_event, member_topic
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
from app.ledger.commands import PlaceHold, VoidHold
from app.ledger.idempotency import idempotent_replayed
from app.ledger.models import Actor, MemberStatus
from app.ledger.service import Ledger, LedgerPolicy
from app.mall.catalogue import Catalogue, tier_ranks
from app.mall.policy import check_limit, check_tier
from app.mall.redemptions import Redemptions
from app.runtime import Runtime

# The leading bid's hold outlives the auction's end by this much: the close job commits or
# voids it long before, and the ledger's generic hold time-out never races the close.
HOLD_GRACE = timedelta(days=1)
SYSTEM = Actor("system", "jobs")


def auction_topic(auction_id: int) -> str:
    """The auction's change signal: its watchers re-read the auction on each burst."""
    return f"{SIGNAL_PREFIX}auction:{auction_id}"


@dataclass(frozen=True)
class Auction:
    id: int
    code: str
    name: str
    item_id: int
    starts_at: datetime
    ends_at: datetime
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
    created_at: datetime
    closed_at: datetime | None

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

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "status": self.status.value,
            "ends_at": self.ends_at.isoformat(),
            "leading_amount": self.leading_amount,
            "bidders": self.bidders,
        }


@dataclass(frozen=True)
class Bid:
    id: int
    auction_id: int
    member_id: int
    amount: int
    hold_id: int
    status: BidStatus
    created_at: datetime


def _auction(row: Row[Any]) -> Auction:
    m = row._mapping
    return Auction(
        **{k: m[k] for k in Auction.__dataclass_fields__ if k not in ("status", "outcome")},
        status=AuctionStatus(row.status),
        outcome=None if row.outcome is None else AuctionOutcome(row.outcome),
    )


def _bid(row: Row[Any]) -> Bid:
    return Bid(
        row.id,
        row.auction_id,
        row.member_id,
        row.amount,
        row.hold_id,
        BidStatus(row.status),
        row.created_at,
    )


class Auctions:
    def __init__(self, conn: AsyncConnection, rt: Runtime) -> None:
        self.conn = conn
        self.rt = rt
        self.clock = rt.clock
        self.ledger = Ledger(conn, rt.clock, LedgerPolicy.from_settings(rt.settings))

    # ------------------------------------------------------------------------------ writes

    async def create(self, spec: AuctionSpec, actor: Actor) -> Auction:
        now = self.clock.now()
        spec.check(now)
        await Catalogue(self.conn, self.clock).get(spec.item_id)  # NOT_FOUND for a wrong id
        row = (
            await self.conn.execute(
                insert(auctions)
                .values(
                    code=spec.code,
                    name=spec.name,
                    item_id=spec.item_id,
                    starts_at=spec.starts_at,
                    ends_at=spec.ends_at,
                    scheduled_end=spec.ends_at,
                    starting_price=spec.starting_price,
                    min_increment=spec.min_increment,
                    reserve_price=spec.reserve_price,
                    extend_seconds=spec.extend_seconds,
                    status=AuctionStatus.OPEN.value,
                    created_by=actor.principal,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["code"])
                .returning(*auctions.c)
            )
        ).first()
        if row is None:
            raise DomainError(ErrorCode.ALREADY_EXISTS, f"auction {spec.code} exists", "code")
        return _auction(row)

    async def bid(self, actor: Actor, member_id: int, auction_id: int, amount: int) -> Bid:
        if amount <= 0:
            raise invalid("a bid must be a positive number of points", "amount")
        now = self.clock.now()
        refuse_early((await self.get(auction_id)).standing, amount, now)
        auction = await self._lock(auction_id)
        check_bid(auction.standing, member_id, amount, now)
        outbid = auction.leading_member_id
        for account in sorted({member_id, *([outbid] if outbid is not None else [])}):
            await lock_account(self.conn, account)
        await self._check_item_rules(auction, member_id, now)
        ends_at = extended_end(auction.ends_at, now, auction.extend_seconds)
        bid_id = int(
            await self.conn.scalar(
                text("SELECT nextval(pg_get_serial_sequence('auction_bids', 'id'))")
            )
        )
        hold = await self.ledger.hold(
            PlaceHold(
                member_id=member_id,
                amount=amount,
                reason=f"auction bid: {auction.name}",
                reference=f"auction-bid:{bid_id}",
                expires_at=ends_at + HOLD_GRACE,
            ),
            actor,
        )
        if auction.leading_bid_id is not None:
            await self._release(auction.leading_bid_id, BidStatus.OUTBID, "outbid", actor)
        first_bid = not await self.conn.scalar(
            select(func.count())
            .select_from(auction_bids)
            .where(auction_bids.c.auction_id == auction_id, auction_bids.c.member_id == member_id)
        )
        row = (
            await self.conn.execute(
                auction_bids.insert()
                .values(
                    id=bid_id,
                    auction_id=auction_id,
                    member_id=member_id,
                    amount=amount,
                    hold_id=hold.id,
                    status=BidStatus.LEADING.value,
                    created_at=now,
                )
                .returning(*auction_bids.c)
            )
        ).one()
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
        bid = _bid(row)
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
        await self._signal(auction_id, "auction.leading_bid")
        return bid

    async def close(self, auction_id: int, actor: Actor) -> Auction:
        """At (or after) its end by the clock: the winner's hold committed into a redemption
        order, or the leading hold voided (no reserve met, no stock); an auction without a
        bid closes empty."""
        auction = await self._lock(auction_id)
        if auction.status is not AuctionStatus.OPEN:
            raise DomainError(ErrorCode.INVALID_STATE, f"auction {auction_id} is closed")
        if auction.ends_at > self.clock.now():
            raise DomainError(
                ErrorCode.INVALID_STATE,
                f"auction {auction_id} ends at {auction.ends_at.isoformat()}",
            )
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
        await self.conn.execute(
            auctions.update()
            .where(auctions.c.id == auction_id)
            .values(
                status=AuctionStatus.CLOSED.value,
                outcome=outcome.value,
                order_id=order_id,
                closed_at=self.clock.now(),
            )
        )
        await self._signal(auction_id, "auction.closed")
        return await self.get(auction_id)

    # ------------------------------------------------------------------------------- reads

    async def get(self, auction_id: int) -> Auction:
        row = (await self.conn.execute(select(auctions).where(auctions.c.id == auction_id))).first()
        if row is None:
            raise not_found("auction", auction_id, "auctionId")
        return _auction(row)

    async def get_bid(self, bid_id: int) -> Bid:
        row = (
            await self.conn.execute(select(auction_bids).where(auction_bids.c.id == bid_id))
        ).one()
        return _bid(row)

    async def listing(self, *, open_only: bool, first: int) -> list[Auction]:
        query = select(auctions)
        if open_only:
            query = query.where(auctions.c.status == AuctionStatus.OPEN.value)
        query = query.order_by(auctions.c.ends_at, auctions.c.id).limit(first)
        rows = await self.conn.execute(query)
        return [_auction(r) for r in rows]

    async def bids_of(self, member_id: int, *, first: int) -> list[Bid]:
        rows = await self.conn.execute(
            select(auction_bids)
            .where(auction_bids.c.member_id == member_id)
            .order_by(auction_bids.c.id.desc())
            .limit(first)
        )
        return [_bid(r) for r in rows]

    async def due_ids(self, limit: int) -> list[int]:
        found = await self.conn.scalars(
            select(auctions.c.id)
            .where(
                auctions.c.status == AuctionStatus.OPEN.value,
                auctions.c.ends_at <= self.clock.now(),
            )
            .order_by(auctions.c.ends_at, auctions.c.id)
            .limit(limit)
        )
        return list(found.all())

    # --------------------------------------------------------------------------- mechanics

    async def _lock(self, auction_id: int) -> Auction:
        row = (
            await self.conn.execute(
                select(auctions).where(auctions.c.id == auction_id).with_for_update()
            )
        ).first()
        if row is None:
            raise not_found("auction", auction_id, "auctionId")
        return _auction(row)

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
        bid = await self.get_bid(bid_id)
        await self.ledger.void_hold(VoidHold(hold_id=bid.hold_id, reason=reason), actor)
        await self.conn.execute(
            auction_bids.update().where(auction_bids.c.id == bid_id).values(status=status.value)
        )

    async def _fulfil(self, auction: Auction, winner: int, actor: Actor) -> int | None:
        """The winning hold committed into a redemption order; None when the item's stock ran
        out meanwhile (nothing was written: the stock is taken before anything else)."""
        assert auction.leading_bid_id is not None and auction.leading_amount is not None
        bid = await self.get_bid(auction.leading_bid_id)
        try:
            order = await Redemptions(self.conn, self.rt).place_won(
                actor, winner, auction.item_id, auction.leading_amount, bid.hold_id
            )
        except DomainError as error:
            if error.code is not ErrorCode.OUT_OF_STOCK:
                raise
            return None
        await self.conn.execute(
            auction_bids.update()
            .where(auction_bids.c.id == bid.id)
            .values(status=BidStatus.WON.value)
        )
        return order.id

    async def _signal(self, auction_id: int, event_type: str) -> None:
        auction = await self.get(auction_id)
        await append_event(self.conn, auction_topic(auction_id), event_type, auction.payload())


# ------------------------------------------------------------------------------ use cases


async def create_auction(rt: Runtime, actor: Actor, spec: AuctionSpec) -> Auction:
    async with unit_of_work(rt.engine) as conn:
        return await Auctions(conn, rt).create(spec, actor)


async def ensure_auction(rt: Runtime, actor: Actor, spec: AuctionSpec) -> Auction:
    """Create the auction unless one with its code exists (the demo seed)."""
    try:
        return await create_auction(rt, actor, spec)
    except DomainError as error:
        if error.code is not ErrorCode.ALREADY_EXISTS:
            raise
    async with rt.engine.connect() as conn:
        return _auction(
            (await conn.execute(select(auctions).where(auctions.c.code == spec.code))).one()
        )


@dataclass(frozen=True)
class Placed:
    bid: Bid
    auction: Auction
    replayed: bool


async def place_bid(
    rt: Runtime,
    actor: Actor,
    *,
    member_id: int,
    auction_id: int,
    amount: int,
    idempotency_key: str,
) -> Placed:
    """One bid (idempotent per caller and key): the same key again returns the same bid."""
    async with unit_of_work(rt.engine) as conn:
        service = Auctions(conn, rt)
        bid, replayed = await idempotent_replayed(
            conn,
            now=rt.clock.now(),
            caller=actor.principal,
            key=idempotency_key,
            operation="games.bid",
            request={"member_id": member_id, "auction_id": auction_id, "amount": amount},
            run=lambda: service.bid(actor, member_id, auction_id, amount),
            dump=lambda b: {"bid_id": b.id},
            load=lambda stored: service.get_bid(int(stored["bid_id"])),
        )
        return Placed(bid, await service.get(auction_id), replayed=replayed)


async def close_auction(rt: Runtime, actor: Actor, auction_id: int) -> Auction:
    async with unit_of_work(rt.engine) as conn:
        return await Auctions(conn, rt).close(auction_id, actor)


@dataclass(frozen=True)
class CloseOutcome:
    closed: int
    skipped: int


async def close_due_auctions(rt: Runtime, *, limit: int = 200) -> CloseOutcome:
    """The closing job's step: every open auction whose end (by the clock) has passed, each in
    its own transaction. Safe to run concurrently: the row lock and the state check decide."""
    async with rt.engine.connect() as conn:
        due = await Auctions(conn, rt).due_ids(limit)
    closed = skipped = 0
    for auction_id in due:
        try:
            await close_auction(rt, SYSTEM, auction_id)
        except DomainError:
            skipped += 1  # closed by another run, or extended by a last bid meanwhile
            continue
        closed += 1
    return CloseOutcome(closed, skipped)


async def get_auction(rt: Runtime, auction_id: int) -> Auction:
    async with rt.engine.connect() as conn:
        return await Auctions(conn, rt).get(auction_id)


async def list_auctions(rt: Runtime, *, open_only: bool, first: int) -> list[Auction]:
    async with rt.engine.connect() as conn:
        return await Auctions(conn, rt).listing(open_only=open_only, first=first)


async def list_bids(rt: Runtime, member_id: int, *, first: int) -> list[Bid]:
    async with rt.engine.connect() as conn:
        return await Auctions(conn, rt).bids_of(member_id, first=first)
