"""Flash sales through the API: 1,000 buyers racing for 100 units, and one member racing
itself against a per-member limit. Real requests at once, then the audit. A refused buyer
costs no SQL statement; a frozen or closed one the gate lets through is refused after it."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from app.ledger import usecases as ledger
from app.ledger.audit import audit_ledger
from app.ledger.commands import Earn
from app.ledger.models import Actor
from app.ledger.tables import holds
from app.mall.flash import FlashGate
from app.mall.tables import mall_items, mall_orders
from app.members import usecases as members
from app.runtime import Runtime
from tests.graphql.conftest import Api
from tests.graphql.statements import counting_statements

STAFF = Actor("staff:alice", "api")
BUYERS, STOCK = 1_000, 100
PLACE = """mutation($m: ID!, $i: ID!, $k: String!) {
  placeRedemption(input: {memberId: $m, itemId: $i, idempotencyKey: $k}) {
    __typename ... on RedemptionPayload { redemption { id memberId } }
    ... on MutationError { code message } } }"""
CREATE = """mutation($stock: Int!, $limit: Int) { createMallItem(input: {stock: $stock, item: {
  code: "flash", name: "Flash gift", kind: GOODS, pointsPrice: 300, flash: true,
  perMemberLimit: $limit, limitPeriod: DAY}}) { ... on MallItemPayload { item { id } } } }"""


async def register_many(rt: Runtime, count: int, points: int) -> list[int]:
    gate = asyncio.Semaphore(16)

    async def one(n: int) -> int:
        async with gate:
            reg = await members.register_member(rt, channel="app", external_ref=f"buyer-{n}")
            await ledger.earn_points(
                rt,
                STAFF,
                Earn(member_id=reg.member.id, amount=points, reason="flash test"),
                idempotency_key=f"buyer-{n}",
            )
            return reg.member.id

    return list(await asyncio.gather(*(one(n) for n in range(count))))


async def buy(api: Api, member: int, item: str, key: str) -> dict[str, Any]:
    body = await api.call(PLACE, {"m": member, "i": item, "k": key}, api.member_headers(member))
    result: dict[str, Any] = body["data"]["placeRedemption"]
    return result


async def database_counts(rt: Runtime, item: str) -> tuple[int, int, set[int]]:
    async with rt.engine.connect() as conn:
        orders = await conn.scalar(select(func.count()).select_from(mall_orders))
        left = await conn.scalar(
            select(mall_items.c.stock_left).where(mall_items.c.id == int(item))
        )
        held = await conn.scalars(select(holds.c.member_id).where(holds.c.status == "active"))
        return int(orders or 0), int(left or 0), set(held.all())


async def test_a_thousand_buyers_for_a_hundred_units(api: Api) -> None:
    rt = api.runtime
    buyers = await register_many(rt, BUYERS, 1_000)
    item = (await api.admin(CREATE, {"stock": STOCK}))["createMallItem"]["item"]["id"]

    results = await asyncio.gather(*(buy(api, m, item, f"k-{m}") for m in buyers))

    winners = {int(r["redemption"]["memberId"]) for r in results if "redemption" in r}
    refusals = [r["code"] for r in results if r["__typename"] == "MutationError"]
    assert len(winners) == STOCK
    assert refusals == ["OUT_OF_STOCK"] * (BUYERS - STOCK)
    orders, left, held_by = await database_counts(rt, item)
    assert (orders, left) == (STOCK, 0)
    assert held_by == winners  # points held only for the winners
    losers = [m for m in buyers if m not in winners]
    balances = await ledger.get_balances(rt, losers)
    assert {(b.available, b.held) for b in balances.values()} == {(1_000, 0)}
    assert await FlashGate(rt.redis).left(int(item)) == 0
    report = await audit_ledger(rt.engine, rt.clock.now())
    assert report.ok, report.render()


async def test_the_per_member_limit_holds_when_members_race_themselves(api: Api) -> None:
    rt = api.runtime
    buyers = await register_many(rt, 5, 5_000)
    item = (await api.admin(CREATE, {"stock": 100, "limit": 2}))["createMallItem"]["item"]["id"]

    results = await asyncio.gather(
        *(buy(api, m, item, f"k-{m}-{n}") for m in buyers for n in range(15))
    )

    placed = [int(r["redemption"]["memberId"]) for r in results if "redemption" in r]
    assert sorted(placed) == sorted(buyers * 2)
    assert [r["code"] for r in results if "code" in r] == ["LIMIT_REACHED"] * (5 * 13)
    orders, left, _ = await database_counts(rt, item)
    assert (orders, left) == (10, 90)
    report = await audit_ledger(rt.engine, rt.clock.now())
    assert report.ok, report.render()


STATUS = """mutation($m: ID!, $s: MemberStatus!) { setMemberStatus(input: {memberId: $m,
  status: $s, reason: "support ticket"}) { __typename } }"""


async def test_a_refused_buyer_costs_no_database_round_trip(api: Api) -> None:
    rt = api.runtime
    winner, loser = await register_many(rt, 2, 1_000)
    item = (await api.admin(CREATE, {"stock": 1}))["createMallItem"]["item"]["id"]
    won = await buy(api, winner, item, "won")
    assert won["__typename"] == "RedemptionPayload", won

    # Token, standing, rate limit, GraphQL, the gate: not one SQL statement for the loser.
    with counting_statements(api) as statements:
        refused = await buy(api, loser, item, "late")
    assert refused["code"] == "OUT_OF_STOCK", refused
    assert statements == []

    # The winner retrying its key is told its order (the gate knows it passed before).
    again = await buy(api, winner, item, "won")
    assert again["redemption"] == won["redemption"], again


async def test_a_frozen_or_closed_member_the_gate_lets_through_is_refused_and_gives_it_back(
    api: Api,
) -> None:
    rt = api.runtime
    frozen, closed, active = await register_many(rt, 3, 1_000)
    await api.admin(STATUS, {"m": frozen, "s": "FROZEN"})
    await api.admin(STATUS, {"m": closed, "s": "CLOSED"})
    item = (await api.admin(CREATE, {"stock": 1}))["createMallItem"]["item"]["id"]

    assert (await buy(api, frozen, item, "f"))["code"] == "MEMBER_NOT_ACTIVE"
    assert (await buy(api, closed, item, "c"))["code"] == "UNAUTHENTICATED"
    assert await FlashGate(rt.redis).left(int(item)) == 1  # both gave their unit back
    assert (await buy(api, active, item, "a"))["__typename"] == "RedemptionPayload"
    orders, left, held_by = await database_counts(rt, item)
    assert (orders, left, held_by) == (1, 0, {active})
