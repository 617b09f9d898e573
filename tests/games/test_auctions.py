"""Auctions against the real database: a rush of bids in the last seconds, the refusals that
change nothing, and the close by the job at the clock's time."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

from sqlalchemy import text

from app.errors import DomainError, ErrorCode
from app.events.outbox import member_topic
from app.events.stream import read_events
from app.games import auctions
from app.games.jobs import close_games
from app.games.lifecycle import SYSTEM, Taken
from app.games.policy import AuctionOutcome, AuctionStatus, BidStatus
from app.ledger import usecases as ledger
from app.ledger.models import HoldStatus
from app.mall import usecases as mall
from app.mall.policy import OrderStatus
from app.members import usecases as members
from app.members.models import MemberStatus
from app.runtime import Runtime
from app.tiers.policy import DEMO_TIERS
from app.tiers.usecases import install_tiers
from tests.games.conftest import MakeAuction
from tests.mall.conftest import MakeMember, assert_audit_clean, member_actor

BIDDERS = 200


async def bid(
    runtime: Runtime, member: int, auction_id: int, amount: int, key: str
) -> Taken | DomainError:
    try:
        return await auctions.place_bid(
            runtime,
            member_actor(member),
            member_id=member,
            auction_id=auction_id,
            amount=amount,
            idempotency_key=key,
        )
    except DomainError as refused:
        return refused


# One statement, so one snapshot: no member holds more than its latest bid, and at most one
# bid of the auction holds anything.
OVER_HELD = text(
    """
    SELECT b.member_id, sum(h.amount) AS held,
           (SELECT amount FROM auction_bids l WHERE l.auction_id = :a AND l.member_id = b.member_id
             ORDER BY l.id DESC LIMIT 1) AS latest,
           (SELECT count(*) FROM auction_bids x JOIN holds y ON y.id = x.hold_id
             WHERE x.auction_id = :a AND y.status = 'active') AS active_in_auction
    FROM auction_bids b JOIN holds h ON h.id = b.hold_id
    WHERE b.auction_id = :a AND h.status = 'active'
    GROUP BY b.member_id
    """
)


async def test_200_members_bidding_in_the_last_seconds_leave_one_winner_at_the_top_bid(
    runtime: Runtime, make_member: MakeMember, make_auction: MakeAuction
) -> None:
    auction = await make_auction(ends_at=runtime.clock.now() + timedelta(minutes=10))
    budgets = {await make_member(f"b{n}", 300 + 40 * n): 300 + 40 * n for n in range(BIDDERS)}
    runtime.clock.set(auction.ends_at - timedelta(seconds=3))  # type: ignore[attr-defined]
    rng = random.Random(19)
    accepted: list[Taken] = []
    refused: list[DomainError] = []
    violations: list[object] = []
    racing = True

    async def bidder(member: int) -> None:
        for attempt in range(4):
            current = await auctions.AUCTIONS.get(runtime, auction.id)
            amount = current.minimum_bid + 10 * rng.randrange(3)
            if amount > budgets[member]:
                amount = budgets[member]  # a last try with everything: may be too low
            result = await bid(runtime, member, auction.id, amount, f"{member}-{attempt}")
            if isinstance(result, DomainError):
                refused.append(result)
                if result.code is ErrorCode.ALREADY_LEADING:
                    return
                continue
            accepted.append(result)

    async def watch() -> None:
        while racing:
            async with runtime.engine.connect() as conn:
                rows = (await conn.execute(OVER_HELD, {"a": auction.id})).all()
            violations.extend(r for r in rows if r.held > r.latest or r.active_in_auction > 1)
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    await asyncio.gather(*(bidder(m) for m in budgets))
    racing = False
    await watcher

    assert violations == []
    assert accepted, "someone must have bid"
    assert {e.code for e in refused} <= {
        ErrorCode.BID_TOO_LOW,
        ErrorCode.ALREADY_LEADING,
        ErrorCode.INSUFFICIENT_POINTS,
    }
    top = max(p.stake.amount for p in accepted)
    after = await auctions.AUCTIONS.get(runtime, auction.id)
    assert after.leading_amount == top
    assert after.bids == len(accepted)
    assert after.bidders == len({p.stake.member_id for p in accepted})
    # Anti-sniping: every bid came 3 s before the end, so the end is 30 s after the clock.
    assert after.ends_at == runtime.clock.now() + timedelta(seconds=30)
    assert after.extensions >= 1 and after.scheduled_end == auction.ends_at
    async with runtime.engine.connect() as conn:
        statuses = (
            await conn.execute(
                text(
                    "SELECT b.status, h.status AS hold, count(*) FROM auction_bids b "
                    "JOIN holds h ON h.id = b.hold_id WHERE b.auction_id = :a "
                    "GROUP BY b.status, h.status"
                ),
                {"a": auction.id},
            )
        ).all()
    assert {(s, h): n for s, h, n in statuses} == {
        ("leading", "active"): 1,
        ("outbid", "voided"): len(accepted) - 1,
    }
    await assert_audit_clean(runtime)

    # The job closes it once the clock passes the (extended) end, not before.
    runtime.clock.advance(timedelta(seconds=29))  # type: ignore[attr-defined]
    assert (await close_games(runtime))["auctions_closed"] == 0
    runtime.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
    assert (await close_games(runtime))["auctions_closed"] == 1
    closed = await auctions.AUCTIONS.get(runtime, auction.id)
    assert closed.status is AuctionStatus.CLOSED and closed.outcome is AuctionOutcome.WON
    assert closed.order_id is not None
    order = await mall.get_order(runtime, closed.order_id)
    winner = closed.leading_member_id
    assert winner is not None
    assert (order.member_id, order.points, order.item_id) == (winner, top, auction.item_id)
    assert order.status is OrderStatus.FULFILLED  # an INSTANT item: fulfilled when confirmed
    balances = await ledger.get_balances(runtime, list(budgets))
    for member, budget in budgets.items():
        expected = budget - top if member == winner else budget
        assert (balances[member].available, balances[member].held) == (expected, 0), member
    await assert_audit_clean(runtime)
    # Each outbid bidder was told, once per bid of theirs that was beaten.
    told = 0
    for member in {p.stake.member_id for p in accepted}:
        events = await read_events(runtime.engine, member_topic(member), 0, limit=1000)
        told += sum(e.type == "auction.outbid" for e in events)
    assert told == len(accepted) - 1


async def test_refused_bids_change_nothing(
    runtime: Runtime, make_member: MakeMember, make_auction: MakeAuction
) -> None:
    auction = await make_auction()
    rich = await make_member("rich", 1_000)
    poor = await make_member("poor", 150)
    first = await bid(runtime, rich, auction.id, 120, "r1")
    assert isinstance(first, Taken)
    before = await auctions.AUCTIONS.get(runtime, auction.id)
    balances = await ledger.get_balances(runtime, [rich, poor])

    cases = [
        (poor, 125, ErrorCode.BID_TOO_LOW),  # the leader's 120 + 10 is the least
        (rich, 200, ErrorCode.ALREADY_LEADING),
        (poor, 200, ErrorCode.INSUFFICIENT_POINTS),
    ]
    for n, (member, amount, code) in enumerate(cases):
        result = await bid(runtime, member, auction.id, amount, f"x{n}")
        assert isinstance(result, DomainError) and result.code is code, (code, result)
    runtime.clock.set(before.ends_at)  # type: ignore[attr-defined]
    late = await bid(runtime, poor, auction.id, 130, "late")
    assert isinstance(late, DomainError) and late.code is ErrorCode.ENDED

    assert await auctions.AUCTIONS.get(runtime, auction.id) == before
    assert await ledger.get_balances(runtime, [rich, poor]) == balances
    assert len(await auctions.AUCTIONS.stakes_of(runtime, poor, first=10)) == 0
    await assert_audit_clean(runtime)


async def test_the_same_key_returns_the_same_bid(
    runtime: Runtime, make_member: MakeMember, make_auction: MakeAuction
) -> None:
    auction = await make_auction()
    member = await make_member("m", 1_000)
    results = await asyncio.gather(*(bid(runtime, member, auction.id, 150, "k") for _ in range(5)))
    placed = [r for r in results if isinstance(r, Taken)]
    assert len(placed) == 5 and len({p.stake.id for p in placed}) == 1
    assert sum(not p.replayed for p in placed) == 1
    assert (await ledger.get_balance(runtime, member)).held == 150
    other = await bid(runtime, member, auction.id, 160, "k")
    assert isinstance(other, DomainError) and other.code is ErrorCode.IDEMPOTENCY_KEY_REUSED


async def test_outbid_releases_the_hold_and_a_member_may_bid_again(
    runtime: Runtime, make_member: MakeMember, make_auction: MakeAuction
) -> None:
    auction = await make_auction(extend_seconds=0)
    a = await make_member("a", 1_000)
    b = await make_member("b", 1_000)
    for n, (member, amount) in enumerate([(a, 100), (b, 110), (a, 200)]):
        assert isinstance(await bid(runtime, member, auction.id, amount, f"k{n}"), Taken)
    assert (await ledger.get_balance(runtime, a)).held == 200
    assert (await ledger.get_balance(runtime, b)).held == 0
    bids = await auctions.AUCTIONS.stakes_of(runtime, a, first=10)
    assert [(x.amount, x.status) for x in bids] == [
        (200, BidStatus.LEADING),
        (100, BidStatus.OUTBID),
    ]
    after = await auctions.AUCTIONS.get(runtime, auction.id)
    assert (after.bids, after.bidders, after.extensions) == (3, 2, 0)
    assert after.ends_at == auction.ends_at  # no anti-sniping configured
    events = await read_events(runtime.engine, member_topic(b), 0)
    assert [e.payload["leading_amount"] for e in events if e.type == "auction.outbid"] == [200]


async def test_an_auction_without_bids_closes_empty_and_one_below_reserve_releases_the_hold(
    runtime: Runtime, make_member: MakeMember, make_auction: MakeAuction
) -> None:
    empty = await make_auction("empty")
    reserved = await make_auction("reserved", reserve_price=500)
    member = await make_member("m", 1_000)
    assert isinstance(await bid(runtime, member, reserved.id, 300, "k"), Taken)
    early = await bid(runtime, member, empty.id, 100, "early")
    assert isinstance(early, Taken)

    # Closing before the end is refused and changes nothing.
    try:
        await auctions.AUCTIONS.close(runtime, SYSTEM, empty.id)
        raise AssertionError("closed before its end")
    except DomainError as refused:
        assert refused.code is ErrorCode.INVALID_STATE

    runtime.clock.advance(timedelta(minutes=11))  # type: ignore[attr-defined]
    assert (await close_games(runtime))["auctions_closed"] == 2
    closed = {
        a.code: a for a in await auctions.AUCTIONS.listing(runtime, open_only=False, first=10)
    }
    assert closed["reserved"].outcome is AuctionOutcome.RESERVE_NOT_MET
    assert closed["empty"].outcome is AuctionOutcome.WON  # the early bid won it
    balance = await ledger.get_balance(runtime, member)
    assert (balance.available, balance.held) == (900, 0)
    assert (await close_games(runtime))["auctions_closed"] == 0
    none = await make_auction("none", ends_at=runtime.clock.now() + timedelta(minutes=1))
    runtime.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
    assert (await close_games(runtime))["auctions_closed"] == 1
    nobody = await auctions.AUCTIONS.get(runtime, none.id)
    assert nobody.outcome is AuctionOutcome.NO_BIDS and nobody.order_id is None
    await assert_audit_clean(runtime)


async def test_an_item_sold_out_before_the_close_voids_the_winning_hold(
    runtime: Runtime, make_member: MakeMember, make_auction: MakeAuction
) -> None:
    auction = await make_auction(stock=1)
    member = await make_member("m", 1_000)
    other = await make_member("o", 1_000)
    assert isinstance(await bid(runtime, member, auction.id, 100, "k"), Taken)
    await mall.place_redemption(
        runtime,
        member_actor(other),
        member_id=other,
        item_id=auction.item_id,
        quantity=1,
        idempotency_key="buy",
    )
    runtime.clock.advance(timedelta(minutes=11))  # type: ignore[attr-defined]
    closed = await auctions.AUCTIONS.close(runtime, SYSTEM, auction.id)
    assert closed.outcome is AuctionOutcome.OUT_OF_STOCK and closed.order_id is None
    assert (await ledger.get_balance(runtime, member)).held == 0
    holds = await ledger.list_holds(runtime, member, active_only=False)
    assert [h.status for h in holds] == [HoldStatus.VOIDED]
    await assert_audit_clean(runtime)


async def test_the_items_tier_and_per_member_limit_bind_its_auction(
    runtime: Runtime, make_member: MakeMember, make_auction: MakeAuction
) -> None:
    await install_tiers(runtime, DEMO_TIERS)
    top_tier = DEMO_TIERS[-1].code
    vip = await make_auction("vip", item={"min_tier": top_tier})
    limited = await make_auction("limited", stock=5, item={"per_member_limit": 1})
    member = await make_member("m", 1_000)
    refused = await bid(runtime, member, vip.id, 100, "vip")
    assert isinstance(refused, DomainError) and refused.code is ErrorCode.TIER_TOO_LOW
    await mall.place_redemption(
        runtime,
        member_actor(member),
        member_id=member,
        item_id=limited.item_id,
        quantity=1,
        idempotency_key="own",
    )
    over = await bid(runtime, member, limited.id, 100, "limited")
    assert isinstance(over, DomainError) and over.code is ErrorCode.LIMIT_REACHED
    assert (await ledger.get_balance(runtime, member)).held == 200  # the mall order's only


async def test_a_winner_frozen_before_the_close_gets_no_sale_and_its_points_back(
    runtime: Runtime, make_member: MakeMember, make_auction: MakeAuction
) -> None:
    auction = await make_auction()
    member = await make_member("m", 1_000)
    assert isinstance(await bid(runtime, member, auction.id, 100, "k"), Taken)
    await members.set_status(
        runtime, member_id=member, status=MemberStatus.FROZEN, reason="check", actor="staff:x"
    )
    runtime.clock.advance(timedelta(minutes=11))  # type: ignore[attr-defined]
    assert (await close_games(runtime))["auctions_closed"] == 1
    closed = await auctions.AUCTIONS.get(runtime, auction.id)
    assert closed.outcome is AuctionOutcome.WINNER_INACTIVE and closed.order_id is None
    balance = await ledger.get_balance(runtime, member)
    assert (balance.available, balance.held) == (1_000, 0)
    await assert_audit_clean(runtime)
