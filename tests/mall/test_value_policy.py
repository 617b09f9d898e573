"""Redemptions under the point's value policy: the price shown is the price applied, at the
boundary moments of the devaluation window (the clock moves), and a changed price is refused."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from app.clock import FrozenClock
from app.errors import DomainError, ErrorCode
from app.ledger import usecases as ledger
from app.mall import checkout
from app.mall import usecases as mall
from app.runtime import Runtime
from app.tiers.policy import DEMO_TIERS
from app.tiers.usecases import install_tiers
from tests.mall.conftest import MakeItem, MakeMember, assert_audit_clean, member_actor


async def _place(rt: Runtime, member: int, item: int, key: str, quoted: int) -> mall.Placed:
    return await mall.place_redemption(
        rt,
        member_actor(member),
        member_id=member,
        item_id=item,
        quantity=1,
        idempotency_key=key,
        quoted_points=quoted,
    )


async def _hold(rt: Runtime, member: int, quoted: Decimal) -> checkout.CheckoutPayment:
    payment, _ = await checkout.hold_for_checkout(
        rt,
        member_actor(member),
        member_id=member,
        channel="pos",
        order_ref="o1",
        basket=Decimal("100.00"),
        points=400,
        quoted_value=quoted,
    )
    return payment


@pytest.fixture
def priced(runtime: Runtime) -> Runtime:
    """Points within 10 days of expiry count half."""
    settings = runtime.settings.model_copy(
        update={"value_expiring_days": 10, "value_expiring_fraction": Decimal("0.5")}
    )
    return replace(runtime, settings=settings, caches={})


async def test_an_order_costs_what_the_quote_showed_at_the_window_boundary(
    priced: Runtime, clock: FrozenClock, make_member: MakeMember, make_item: MakeItem
) -> None:
    member = await make_member("a", 300, second_lot=1_000)  # 300 expire in 30 days
    item = await make_item(points_price=200)
    # 20 days on, a moment before the window opens (exactly 10 days before expiry): face value.
    clock.advance(timedelta(days=20) - timedelta(microseconds=1))
    before = await mall.quote_redemption(priced, member, item.id, 1)
    assert (before.payment.points, [p.points for p in before.payment.lots]) == (200, [200])
    clock.advance(timedelta(microseconds=1))  # the window opens: 300 expiring points count 150
    quote = await mall.quote_redemption(priced, member, item.id, 1)
    assert [(p.points, p.factor) for p in quote.payment.lots] == [
        (300, Decimal("0.5")),
        (50, Decimal(1)),
    ]
    assert quote.payment.points == 350 and quote.payment.value == 200
    # The quote from before the window is refused now, with nothing written.
    with pytest.raises(DomainError) as refused:
        await _place(priced, member, item.id, "k1", before.payment.points)
    assert refused.value.code is ErrorCode.QUOTE_CHANGED
    assert (await ledger.get_balance(priced, member)).available == 1_300
    placed = await _place(priced, member, item.id, "k2", quote.payment.points)
    assert placed.order.points == 350
    balance = await ledger.get_balance(priced, member)
    assert (balance.available, balance.held) == (950, 350)
    await assert_audit_clean(priced)


async def test_checkout_pays_the_quoted_value_of_devalued_points(
    priced: Runtime, clock: FrozenClock, make_member: MakeMember
) -> None:
    member = await make_member("b", 300, second_lot=1_000)
    clock.advance(timedelta(days=20))  # inside the window
    basket = Decimal("100.00")  # at most 50 CNY by points: 500 standard points
    quote = await checkout.quote(priced, member, basket, 400)
    assert quote.value == Decimal("25.00")  # 300 at 0.05 CNY + 100 at 0.1 CNY
    assert (quote.max_points, quote.cash_value) == (
        650,
        Decimal("50.00"),
    )  # 300 count 150, then 350 more make 500
    with pytest.raises(DomainError) as refused:
        await _hold(priced, member, Decimal("40.00"))
    assert refused.value.code is ErrorCode.QUOTE_CHANGED
    payment = await _hold(priced, member, quote.value)
    assert payment.cash_value == Decimal("25.00")
    await assert_audit_clean(priced)


async def test_without_a_policy_the_quote_is_the_price(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    member = await make_member("c", 300)
    item = await make_item(points_price=200)
    quote = await mall.quote_redemption(runtime, member, item.id, 1)
    assert (quote.price, quote.payment.points, quote.payment.value) == (200, 200, 200)


@pytest.mark.parametrize(
    ("member", "item", "quantity", "code"),
    [
        (999_999, None, 1, ErrorCode.NOT_FOUND),
        (None, 999_999, 1, ErrorCode.NOT_FOUND),
        (None, None, 0, ErrorCode.INVALID_INPUT),
        (None, None, 2, ErrorCode.INSUFFICIENT_POINTS),
    ],
)
async def test_a_bad_quote_is_refused_with_its_code(
    priced: Runtime,
    make_member: MakeMember,
    make_item: MakeItem,
    member: int | None,
    item: int | None,
    quantity: int,
    code: ErrorCode,
) -> None:
    real = await make_member("d", 300)
    real_item = await make_item(points_price=200)
    with pytest.raises(DomainError) as refused:
        await mall.quote_redemption(priced, member or real, item or real_item.id, quantity)
    assert refused.value.code is code


async def test_a_tier_with_a_premium_pays_fewer_points_and_the_order_holds_them(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    await install_tiers(runtime, DEMO_TIERS)  # a new member is in the base tier, "normal"
    premium = replace(
        runtime,
        settings=runtime.settings.model_copy(
            update={"value_tier_premiums": {"normal": Decimal("1.25")}}
        ),
        caches={},
    )
    member = await make_member("t", 300)
    item = await make_item(points_price=200)
    quote = await mall.quote_redemption(premium, member, item.id, 1)
    assert (quote.tier, quote.payment.points, quote.payment.value) == ("normal", 160, 200)
    placed = await _place(premium, member, item.id, "t1", 160)
    assert placed.order.points == 160
    assert (await ledger.get_balance(premium, member)).held == 160
    await assert_audit_clean(premium)
