"""The flash-sale gate against the database: Redis restarts, disagreements, refusals that give
the unit back, cancellations, reconciliation, and Redis being down. Never an oversell."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from redis.asyncio import Redis

from app.errors import DomainError, ErrorCode
from app.ledger import usecases as ledger
from app.mall import usecases as mall
from app.mall.catalogue import get_item
from app.mall.flash import FlashGate, Ticket, Verdict, reconcile
from app.mall.policy import Item
from app.runtime import Runtime
from tests.mall.conftest import MakeItem, MakeMember, assert_audit_clean, member_actor
from tests.statements import counting


async def buy(runtime: Runtime, member: int, item: Item, key: str) -> mall.Order | DomainError:
    try:
        placed = await mall.place_redemption(
            runtime,
            member_actor(member),
            member_id=member,
            item_id=item.id,
            quantity=1,
            idempotency_key=key,
        )
    except DomainError as refused:
        return refused
    return placed.order


async def rush(runtime: Runtime, members: list[int], item: Item) -> list[mall.Order | DomainError]:
    return await asyncio.gather(*(buy(runtime, m, item, f"rush-{m}") for m in members))


def sold(results: list[mall.Order | DomainError]) -> int:
    return sum(isinstance(r, mall.Order) for r in results)


async def members(make_member: MakeMember, count: int, points: int = 1_000) -> list[int]:
    return [await make_member(f"b{n}", points) for n in range(count)]


async def test_a_redis_restart_mid_sale_rearms_from_the_database(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    item = await make_item(stock=10, flash=True)
    buyers = await members(make_member, 30)

    first = await rush(runtime, buyers[:4], item)
    await runtime.redis.flushdb()  # what a restart without persistence looks like
    second = await rush(runtime, buyers[4:], item)

    assert sold(first) == 4 and sold(second) == 6
    assert {r.code for r in second if isinstance(r, DomainError)} == {ErrorCode.OUT_OF_STOCK}
    assert (await get_item(runtime, item.id)).stock_left == 0
    assert await FlashGate(runtime.redis).left(item.id) == 0
    await assert_audit_clean(runtime)


async def test_a_gate_that_says_more_than_the_database_still_cannot_oversell(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    item = await make_item(stock=3, flash=True)
    buyers = await members(make_member, 10)
    await buy(runtime, buyers[0], item, "arm")  # arms the gate: 2 left
    await runtime.redis.set(FlashGate.keys(item.id, "-")[0], 100)  # a wrong gate

    results = await rush(runtime, buyers[1:], item)

    assert sold(results) == 2
    assert (await get_item(runtime, item.id)).stock_left == 0
    await assert_audit_clean(runtime)


async def test_a_buyer_the_database_refuses_gives_the_unit_back(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    item = await make_item(stock=1, flash=True, points_price=500)
    poor = await make_member("poor", 10)
    rich = await make_member("rich", 1_000)

    refused = await buy(runtime, poor, item, "p")
    assert isinstance(refused, DomainError) and refused.code is ErrorCode.INSUFFICIENT_POINTS
    assert await FlashGate(runtime.redis).left(item.id) == 1
    assert isinstance(await buy(runtime, rich, item, "r"), mall.Order)
    assert await FlashGate(runtime.redis).left(item.id) == 0


async def test_a_cancelled_flash_order_reopens_the_unit(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    item = await make_item(stock=1, flash=True, per_member_limit=1)
    a, b = await members(make_member, 2)
    order = await buy(runtime, a, item, "a")
    assert isinstance(order, mall.Order)
    late = await buy(runtime, b, item, "b")
    assert isinstance(late, DomainError) and late.code is ErrorCode.OUT_OF_STOCK

    await mall.cancel_redemption(runtime, member_actor(a), order.id, "changed my mind")

    assert isinstance(await buy(runtime, b, item, "b2"), mall.Order)
    assert (await get_item(runtime, item.id)).stock_left == 0
    await assert_audit_clean(runtime)


@pytest.mark.parametrize("redis_restarted", [False, True])
async def test_a_replayed_winner_gets_its_order_even_when_sold_out(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem, redis_restarted: bool
) -> None:
    item = await make_item(stock=1, flash=True)
    a, b = await members(make_member, 2)
    won = await buy(runtime, a, item, "same")
    if redis_restarted:
        await runtime.redis.flushdb()  # the gate forgets who passed; arming rebuilds it
    late = await buy(runtime, b, item, "other")

    again = await buy(runtime, a, item, "same")

    assert isinstance(late, DomainError) and late.code is ErrorCode.OUT_OF_STOCK
    assert isinstance(won, mall.Order) and isinstance(again, mall.Order) and again.id == won.id


async def test_reconcile_rebuilds_the_gate_from_the_database(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    item = await make_item(stock=5, flash=True)
    (buyer,) = await members(make_member, 1)
    await buy(runtime, buyer, item, "one")
    await runtime.redis.set(FlashGate.keys(item.id, "-")[0], 0)  # a unit lost by a crash

    assert await reconcile(runtime, item.id) == 4
    assert await FlashGate(runtime.redis).left(item.id) == 4


async def test_with_redis_down_the_database_alone_decides_exactly(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    item = await make_item(stock=5, flash=True)
    buyers = await members(make_member, 20)
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    down = replace(runtime, redis=unreachable, caches={})

    results = await rush(down, buyers, item)

    assert sold(results) == 5
    assert {r.code for r in results if isinstance(r, DomainError)} == {ErrorCode.OUT_OF_STOCK}
    held = [(await ledger.get_balance(runtime, m)).held for m in buyers]
    assert sorted(held) == [0] * 15 + [200] * 5
    await unreachable.aclose()
    await assert_audit_clean(runtime)


async def test_a_refusal_reads_the_database_only_for_a_member_who_passed_before(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    item = await make_item(stock=1, flash=True)
    a, b = await members(make_member, 2)
    await buy(runtime, a, item, "won")

    with counting(runtime) as never_passed:
        await buy(runtime, b, item, "late")
    with counting(runtime) as passed_before:
        retried = await buy(runtime, a, item, "new key")

    assert never_passed == []
    assert len(passed_before) == 1  # its stored answer for that key: none, so refused
    assert isinstance(retried, DomainError) and retried.code is ErrorCode.OUT_OF_STOCK


async def test_a_cancelled_winner_still_replays_its_order(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    item = await make_item(stock=1, flash=True)
    a, b = await members(make_member, 2)
    won = await buy(runtime, a, item, "same")
    assert isinstance(won, mall.Order)
    await mall.cancel_redemption(runtime, member_actor(a), won.id, "changed my mind")
    assert isinstance(await buy(runtime, b, item, "b"), mall.Order)

    again = await buy(runtime, a, item, "same")

    assert (
        isinstance(again, mall.Order) and again.id == won.id and again.status.value == "cancelled"
    )


async def test_once_sold_out_a_buyer_who_never_passed_is_refused_without_redis(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = await make_item(stock=1, flash=True)
    a, b, c, d = await members(make_member, 4)
    won = await buy(runtime, a, item, "won")
    takes: list[int] = []
    take = FlashGate.take

    async def counted(gate: FlashGate, ticket: Ticket) -> Verdict:
        takes.append(ticket.member_id)
        return await take(gate, ticket)

    monkeypatch.setattr(FlashGate, "take", counted)

    refused = [await buy(runtime, m, item, f"late-{m}") for m in (b, c, d)]
    again = await buy(runtime, a, item, "won")

    assert {r.code for r in refused if isinstance(r, DomainError)} == {ErrorCode.OUT_OF_STOCK}
    assert takes == [b, a]  # c and d answered in process; the winner still asks (a replay)
    assert isinstance(won, mall.Order) and isinstance(again, mall.Order) and again.id == won.id
