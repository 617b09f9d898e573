"""A placement in one statement (app/mall/onetrip.py, ``mall_place_order()``): it writes exactly
what the ordinary path writes, row for row; it never oversells the last units to buyers racing
over real connections; and every refusal answers as the ordinary path does, nothing changed."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app.errors import DomainError, ErrorCode
from app.events.tables import events
from app.ledger import usecases as ledger
from app.ledger.idempotency import fingerprint
from app.ledger.models import MemberStatus
from app.ledger.tables import accounts, allocations, holds, idempotency_keys, lots
from app.mall import usecases as mall
from app.mall.catalogue import update_item
from app.mall.policy import LimitPeriod, OrderStatus
from app.mall.tables import mall_orders
from app.members import usecases as members
from app.runtime import Runtime
from tests.mall.conftest import (
    GOODS,
    STAFF,
    MakeItem,
    MakeMember,
    OrdinaryPath,
    assert_audit_clean,
    member_actor,
)
from tests.mall.test_redemptions import place, state
from tests.statements import counting

ONE_STATEMENT = "mall_place_order"


def _same_for_every_member(value: Any, member: int, order_id: int) -> str:
    """A row's text with the member's and its order's ids spelled alike for every member."""
    text = repr(value).replace(f"member:{member}'", "member:M'")
    return text.replace(f"mall-order:{order_id}'", "mall-order:O'")


async def _written(runtime: Runtime, member: int) -> list[Any]:
    """Every row a placement writes for ``member``, ids left out, in the order written."""
    async with runtime.engine.connect() as conn:
        order_id = await conn.scalar(
            select(mall_orders.c.id).where(mall_orders.c.member_id == member)
        )
        rows: list[Any] = []
        for table, where, drop in (
            (mall_orders, mall_orders.c.member_id == member, ("id", "member_id", "hold_id")),
            (holds, holds.c.member_id == member, ("id", "member_id", "account_id")),
            (lots, lots.c.member_id == member, ("id", "account_id", "member_id", "entry_id")),
            (accounts, accounts.c.member_id == member, ("id", "member_id", "code", "created_at")),
            (
                idempotency_keys,
                idempotency_keys.c.caller == f"member:{member}",
                ("caller", "fingerprint", "response"),  # the member's own request, its order
            ),
        ):
            found = await conn.execute(select(table).where(where).order_by(*table.primary_key))
            for row in found:
                kept = {k: v for k, v in row._mapping.items() if k not in drop}
                rows.append((table.name, _same_for_every_member(kept, member, order_id)))
        taken = await conn.execute(
            select(allocations.c.amount, allocations.c.returned, lots.c.amount.label("lot"))
            .join(lots, lots.c.id == allocations.c.lot_id)
            .where(lots.c.member_id == member)
            .order_by(allocations.c.id)
        )
        rows += [("allocations", tuple(r)) for r in taken]
        found = await conn.execute(
            select(events.c.type, events.c.payload)
            .where(events.c.topic == f"member:{member}", events.c.type != "member.registered")
            .order_by(events.c.id)
        )
        for r in found:
            payload = dict(r.payload)
            for part in ("entry", "hold", "order"):
                if part in payload:
                    payload[part] = {k: v for k, v in payload[part].items() if k != "id"}
                    payload[part].pop("hold_id", None)
            payload.pop("member_id", None)
            rows.append((r.type, _same_for_every_member(payload, member, order_id)))
    return rows


async def test_one_statement_writes_what_the_ordinary_path_writes(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem, ordinary_path: OrdinaryPath
) -> None:
    """Two lots (the hold takes from both, first to expire first), a cash part, a limit."""
    item = await make_item(
        stock=5, cash_price=Decimal("9.90"), per_member_limit=2, limit_period=LimitPeriod.DAY
    )
    a = await make_member("a", points=150, second_lot=500)
    b = await make_member("b", points=150, second_lot=500)
    with ordinary_path():
        by_ordinary = await place(runtime, a, item.id, quantity=1, key="same")

    with counting(runtime) as statements:
        by_one = await place(runtime, b, item.id, quantity=1, key="same")

    assert [s for s in statements if ONE_STATEMENT in s] == statements and len(statements) == 1
    assert await _written(runtime, b) == await _written(runtime, a)
    fields = {"id", "member_id", "hold_id", "actor"}
    assert {k: v for k, v in vars(by_one).items() if k not in fields} == {
        k: v for k, v in vars(by_ordinary).items() if k not in fields
    }
    assert by_one == await mall.get_order(runtime, by_one.id)  # the answer is the row
    assert (await ledger.get_balance(runtime, b)).held == 200
    async with runtime.engine.connect() as conn:
        stored = await conn.execute(
            select(idempotency_keys.c.fingerprint, idempotency_keys.c.response)
            .where(idempotency_keys.c.caller.in_([f"member:{a}", f"member:{b}"]))
            .order_by(idempotency_keys.c.caller == f"member:{b}")
        )
        (print_a, answer_a), (print_b, answer_b) = stored.all()
    request = {"member_id": b, "item_id": item.id, "quantity": 1}
    assert print_b == fingerprint(["mall.place", request]) != print_a
    assert (answer_a, answer_b) == ({"order_id": by_ordinary.id}, {"order_id": by_one.id})
    async with runtime.engine.connect() as conn:
        stock = await conn.scalar(
            text("SELECT stock_left FROM mall_items WHERE id = :id"), {"id": item.id}
        )
    assert stock == 3
    await assert_audit_clean(runtime)


async def test_a_retry_replays_the_order_and_a_reused_key_is_refused(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    member = await make_member(points=1_000)
    item, other = await make_item(stock=5), await make_item(stock=5, code="other")
    first = await mall.place_redemption(
        runtime,
        member_actor(member),
        member_id=member,
        item_id=item.id,
        quantity=1,
        idempotency_key="k",
    )
    again = await mall.place_redemption(
        runtime,
        member_actor(member),
        member_id=member,
        item_id=item.id,
        quantity=1,
        idempotency_key="k",
    )
    before = await state(runtime, member, other.id)
    with pytest.raises(DomainError) as reused:
        await place(runtime, member, other.id, key="k")

    assert (first.replayed, again.replayed) == (False, True) and again.order == first.order
    assert reused.value.code is ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert await state(runtime, member, other.id) == before
    assert (await ledger.get_balance(runtime, member)).held == 200
    await assert_audit_clean(runtime)


async def test_buyers_racing_for_the_last_units_never_oversell(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    """Twelve buyers, each on a connection of its own, for three units: the statements all read
    units left, the COMMITs take them one at a time (migration 0039)."""
    item = await make_item(stock=3)
    buyers = [await make_member(f"b{n}", points=1_000) for n in range(12)]

    results = await asyncio.gather(
        *(place(runtime, b, item.id, key=f"race-{b}") for b in buyers), return_exceptions=True
    )

    placed = [r for r in results if isinstance(r, mall.Order)]
    refused = [r for r in results if not isinstance(r, mall.Order)]
    assert len(placed) == 3
    assert [getattr(r, "code", r) for r in refused] == [ErrorCode.OUT_OF_STOCK] * 9
    async with runtime.engine.connect() as conn:
        stock = await conn.scalar(
            text("SELECT stock_left FROM mall_items WHERE id = :id"), {"id": item.id}
        )
        orders = await conn.scalar(select(func.count()).select_from(mall_orders))
        held = await conn.scalar(select(func.coalesce(func.sum(holds.c.amount), 0)))
        keys = await conn.scalar(
            select(func.count())
            .select_from(idempotency_keys)
            .where(idempotency_keys.c.key.like("race-%"))
        )
    assert (stock, orders, held, keys) == (0, 3, 600, 3)
    await assert_audit_clean(runtime)


async def test_each_refusal_answers_as_the_ordinary_path_and_changes_nothing(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem, ordinary_path: OrdinaryPath
) -> None:
    """The statement declines (the ordinary path then answers) or refuses OUT_OF_STOCK itself;
    either way the answer is the ordinary path's and nothing is written."""
    rich = await make_member("rich", points=1_000)
    poor = await make_member("poor", points=100)
    frozen = await make_member("frozen", points=1_000)
    await members.set_status(
        runtime, member_id=frozen, status=MemberStatus.FROZEN, reason="t", actor="staff:t"
    )
    limited = await make_item(stock=10, code="limited", per_member_limit=1)
    await place(runtime, rich, limited.id, key="first")
    cases = [
        (poor, {"code": "dear"}, 10, 1, ErrorCode.INSUFFICIENT_POINTS),
        (frozen, {"code": "cold"}, 10, 1, ErrorCode.MEMBER_NOT_ACTIVE),
        (rich, None, 10, 1, ErrorCode.LIMIT_REACHED),
        (rich, {"code": "gone"}, 0, 1, ErrorCode.OUT_OF_STOCK),
        (rich, {"code": "few"}, 2, 3, ErrorCode.OUT_OF_STOCK),
        (987_654, {"code": "nobody"}, 10, 1, ErrorCode.NOT_FOUND),
    ]
    for buyer, changes, stock, quantity, code in cases:
        item = limited if changes is None else await make_item(stock=stock, **changes)
        answers = []
        for path in ("ordinary", "one statement"):
            key = f"refused-{item.code}-{path}"
            before = await state(runtime, rich, item.id)
            with counting(runtime) as statements, pytest.raises(DomainError) as refused:
                if path == "ordinary":
                    with ordinary_path():
                        await place(runtime, buyer, item.id, quantity, key=key)
                else:
                    await place(runtime, buyer, item.id, quantity, key=key)
            answers.append((refused.value.code, refused.value.message, refused.value.field))
            assert await state(runtime, rich, item.id) == before, (item.code, path)
            tried = [s for s in statements if ONE_STATEMENT in s]
            assert len(tried) == (path == "one statement"), (item.code, path)
        assert answers[0] == answers[1] and answers[0][0] is code, item.code
    async with runtime.engine.connect() as conn:
        keys = await conn.scalar(
            select(func.count())
            .select_from(idempotency_keys)
            .where(idempotency_keys.c.key.like("refused-%"))
        )
    assert keys == 0  # every refused buyer may retry with its key
    await assert_audit_clean(runtime)


async def test_an_item_changed_since_it_was_priced_declines_to_the_ordinary_path(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    """The process prices the item as it cached it; changed since (a new version), the
    statement writes nothing and the ordinary path places it at the price of the moment."""
    member = await make_member(points=1_000)
    item = await make_item(stock=5)
    await place(runtime, member, item.id, key="cached")  # the item cached for a second
    await update_item(runtime, STAFF, item.id, replace(GOODS, points_price=300))

    with counting(runtime) as statements:
        order = await place(runtime, member, item.id)

    assert order.points == 300 and order.status is OrderStatus.PLACED
    assert len([s for s in statements if ONE_STATEMENT in s]) == 1 and len(statements) > 1
    assert (await ledger.get_balance(runtime, member)).held == 200 + 300
    await assert_audit_clean(runtime)
