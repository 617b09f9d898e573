"""Group commit for placements (app/mall/onetrip.py, ``mall_place_orders()``): the placements of
one item that arrive together share one statement and one COMMIT — a flash sale's winners take
the item's row lock once a batch — each with the answer it would have had alone. Racing real
connections never oversells; every test ends with the audit."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app.errors import DomainError, ErrorCode
from app.groupcommit import Batcher
from app.ledger import usecases as ledger
from app.ledger.tables import holds, idempotency_keys
from app.mall import usecases as mall
from app.mall.onetrip import BATCHERS
from app.mall.tables import mall_orders
from app.runtime import Runtime
from tests.mall.conftest import MakeItem, MakeMember, assert_audit_clean
from tests.mall.test_redemptions import place
from tests.statements import counting

BATCH = "mall_place_orders("
ALONE = "mall_place_order("


@pytest.fixture
def batched(runtime: Runtime) -> Runtime:
    """The runtime with group commit for placements on at 32 a batch (JIFEN_MALL_ORDER_BATCH_MAX's
    default), whatever the environment says."""
    settings = runtime.settings.model_copy(update={"mall_order_batch_max": 32})
    return Runtime(
        settings=settings, engine=runtime.engine, redis=runtime.redis, clock=runtime.clock
    )


def batches(rt: Runtime, item_id: int) -> int:
    """The statements the runtime's batcher for the item has sent so far."""
    batcher: Batcher[Any] | None = rt.caches.get(BATCHERS, {}).get(item_id)
    return 0 if batcher is None else batcher.batches


async def answers(*placements: Any) -> list[Any]:
    """Each placement's order, or its refusal's code, or its error's type."""
    done = await asyncio.gather(*placements, return_exceptions=True)
    return [
        r if isinstance(r, mall.Order) else r.code if isinstance(r, DomainError) else type(r)
        for r in done
    ]


async def stock_orders_held(rt: Runtime, item_id: int) -> tuple[int, int, int]:
    async with rt.engine.connect() as conn:
        stock = await conn.scalar(
            text("SELECT stock_left FROM mall_items WHERE id = :id"), {"id": item_id}
        )
        orders = await conn.scalar(
            select(func.count()).select_from(mall_orders).where(mall_orders.c.item_id == item_id)
        )
        held = await conn.scalar(
            select(func.coalesce(func.sum(holds.c.amount), 0)).where(holds.c.status == "active")
        )
    return int(stock), int(orders or 0), int(held or 0)


async def test_winners_of_one_item_share_a_commit_each_with_its_own_answer(
    batched: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    runtime = batched
    item = await make_item(stock=40, per_member_limit=1)
    buyers = [await make_member(f"b{n}", points=1_000) for n in range(30)]
    poor = await make_member("poor", points=100)
    await place(runtime, buyers[0], item.id, key="before")  # the batcher made, one unit taken

    with counting(runtime) as statements:
        got = await answers(
            *(place(runtime, b, item.id, key=f"k-{b}") for b in buyers[1:]),
            place(runtime, poor, item.id, key="poor"),  # declined: the ordinary path refuses
            place(runtime, buyers[0], item.id, key="before"),  # a replay: its order again
            place(runtime, buyers[1], item.id, key="twice"),  # over the limit once placed
        )

    placed, (too_poor, replay, limit) = got[:29], got[29:]
    assert all(isinstance(o, mall.Order) for o in placed), got
    assert {o.member_id for o in placed} == set(buyers[1:])
    assert too_poor is ErrorCode.INSUFFICIENT_POINTS
    assert isinstance(replay, mall.Order) and replay.member_id == buyers[0]
    assert limit is ErrorCode.LIMIT_REACHED
    together = [s for s in statements if BATCH in s]
    assert 1 <= len(together) <= 3  # 32 at most a batch, two out at once: not 32 commits
    assert not [s for s in statements if ALONE in s]  # none needed sending again alone
    assert await stock_orders_held(runtime, item.id) == (10, 30, 30 * 200)
    await assert_audit_clean(runtime)


async def test_a_batch_holding_more_units_than_are_left_sends_each_again_alone(
    batched: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    """Twelve buyers for three units in one batch: the COMMIT refuses the batch (SQLSTATE
    JF409, nothing written), and each placement alone gets its own answer."""
    runtime = batched
    item = await make_item(stock=4)
    buyers = [await make_member(f"b{n}", points=1_000) for n in range(13)]
    # The item cached (for a second) and one unit taken: the twelve then reach the batcher in
    # one turn of the loop, not one by one behind the cache's first read.
    await place(runtime, buyers.pop(), item.id, key="warm")

    with counting(runtime) as statements:
        got = await answers(*(place(runtime, b, item.id, key=f"race-{b}") for b in buyers))

    assert sum(isinstance(o, mall.Order) for o in got) == 3
    assert [a for a in got if not isinstance(a, mall.Order)] == [ErrorCode.OUT_OF_STOCK] * 9
    assert len([s for s in statements if BATCH in s]) == 1
    assert len([s for s in statements if ALONE in s and BATCH not in s]) == 12
    assert await stock_orders_held(runtime, item.id) == (0, 4, 800)
    async with runtime.engine.connect() as conn:
        keys = await conn.scalar(
            select(func.count())
            .select_from(idempotency_keys)
            .where(idempotency_keys.c.key.like("race-%"))
        )
    assert keys == 3  # every refused buyer may retry with its key (the warm one's is "warm")
    await assert_audit_clean(runtime)


async def test_a_placement_that_fails_in_the_batch_fails_alone(
    batched: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    """One member's lots disagree with its balance (the hold raises): its neighbours in the
    batch are placed, it fails on its own, its key stays free."""
    runtime = batched
    item = await make_item(stock=10)
    a, broken, b = [await make_member(f"m{n}", points=1_000) for n in range(3)]
    await place(runtime, a, item.id, key="warm")
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE lots SET remaining = 0 WHERE member_id = :m"), {"m": broken}
        )

    got = await answers(
        place(runtime, a, item.id, key="a"),
        place(runtime, broken, item.id, key="broken"),
        place(runtime, b, item.id, key="b"),
    )

    assert isinstance(got[0], mall.Order) and isinstance(got[2], mall.Order)
    assert not isinstance(got[1], mall.Order | ErrorCode)  # the database's error, raised
    async with runtime.engine.begin() as conn:
        keys = await conn.scalar(
            select(func.count())
            .select_from(idempotency_keys)
            .where(idempotency_keys.c.key == "broken")
        )
        await conn.execute(
            text("UPDATE lots SET remaining = amount WHERE member_id = :m"), {"m": broken}
        )
    assert keys == 0
    assert await stock_orders_held(runtime, item.id) == (7, 3, 600)
    await assert_audit_clean(runtime)


async def test_two_processes_racing_for_the_last_units_never_oversell(
    batched: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    """Two runtimes (two API processes' batchers, each on connections of its own) race 60
    buyers, some sending their key twice, for 40 units: 40 placed, each key once."""
    runtime = batched
    other = Runtime(
        settings=batched.settings, engine=batched.engine, redis=batched.redis, clock=batched.clock
    )
    item = await make_item(stock=40)
    buyers = [await make_member(f"b{n}", points=1_000) for n in range(60)]
    rng = random.Random(21)
    sent = [b for b in buyers for _ in range(rng.choice((1, 1, 2)))]
    rng.shuffle(sent)

    got = await answers(
        *(place(rng.choice((runtime, other)), b, item.id, key=f"k-{b}") for b in sent)
    )

    orders = {o.member_id: o.id for o in got if isinstance(o, mall.Order)}
    assert len(orders) == 40
    for b, answer in zip(sent, got, strict=True):  # a key sent twice: one order, or refused
        assert answer is ErrorCode.OUT_OF_STOCK or orders[b] == answer.id
    assert await stock_orders_held(runtime, item.id) == (0, 40, 40 * 200)
    assert batches(runtime, item.id) + batches(other, item.id) < len(sent)
    for b in buyers:
        balance = await ledger.get_balance(runtime, b)
        assert (balance.available, balance.held) == ((800, 200) if b in orders else (1_000, 0))
    await assert_audit_clean(runtime)
