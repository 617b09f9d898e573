"""Points at checkout: quote under the limits, hold, commit or void, idempotent per order."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from app.errors import DomainError, ErrorCode
from app.ledger import usecases as ledger
from app.mall import checkout
from app.runtime import Runtime
from app.valuation import usecases as valuation
from tests.mall.conftest import STAFF, MakeMember, assert_audit_clean

POS = STAFF


async def hold(runtime: Runtime, member: int, ref: str, points: int) -> checkout.CheckoutPayment:
    payment, _ = await checkout.hold_for_checkout(
        runtime,
        POS,
        member_id=member,
        channel="pos",
        order_ref=ref,
        basket=Decimal("100.00"),
        points=points,
    )
    return payment


async def test_quote_hold_commit_and_void(runtime: Runtime, make_member: MakeMember) -> None:
    member = await make_member(points=150, second_lot=500)
    quote = await checkout.quote(runtime, member, Decimal("100.00"))
    assert (quote.max_points, quote.cash_value, quote.rest_to_pay) == (
        500,
        Decimal("50.00"),
        Decimal("50.00"),
    )
    lots_before = await ledger.list_lots(runtime, member, first=10)

    paid = await hold(runtime, member, "till-1", 300)
    again, replayed = await checkout.hold_for_checkout(
        runtime,
        POS,
        member_id=member,
        channel="pos",
        order_ref="till-1",
        basket=Decimal("100.00"),
        points=300,
    )
    assert replayed and again.id == paid.id
    assert (await ledger.get_balance(runtime, member)).held == 300
    committed = await checkout.settle_checkout(runtime, POS, paid.id, commit=True)
    assert committed.status == "committed" and committed.entry_id is not None
    with pytest.raises(DomainError) as wrong_way:
        await checkout.settle_checkout(runtime, POS, paid.id, commit=False)
    assert wrong_way.value.code is ErrorCode.INVALID_STATE

    voided = await hold(runtime, member, "till-2", 100)
    await checkout.settle_checkout(runtime, POS, voided.id, commit=False)
    balance = await ledger.get_balance(runtime, member)
    assert (balance.available, balance.held) == (350, 0)
    lots = await ledger.list_lots(runtime, member, first=10)
    assert [lot.expires_at for lot in lots] == [lot.expires_at for lot in lots_before][-1:]
    await assert_audit_clean(runtime)


async def test_over_the_limit_or_reused_order_changes_nothing(
    runtime: Runtime, make_member: MakeMember
) -> None:
    member = await make_member(points=1_000)
    with pytest.raises(DomainError) as over:
        await hold(runtime, member, "till-1", 501)  # more than half of 100 CNY
    assert over.value.code is ErrorCode.LIMIT_REACHED
    with pytest.raises(DomainError) as few:
        await hold(runtime, member, "till-1", 5)
    assert few.value.code is ErrorCode.INVALID_INPUT
    await hold(runtime, member, "till-1", 100)
    with pytest.raises(DomainError) as reused:
        await hold(runtime, member, "till-1", 200)
    assert reused.value.code is ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert (await ledger.get_balance(runtime, member)).held == 100
    await assert_audit_clean(runtime)


async def test_a_point_pays_the_value_in_force_when_the_payment_is_held(
    runtime: Runtime, make_member: MakeMember
) -> None:
    member = await make_member(points=1_000)
    before = await hold(runtime, member, "till-v1", 100)
    assert before.cash_value == Decimal("10.00")  # the default, 0.1
    now = runtime.clock.now()
    await valuation.set_point_value(
        runtime, STAFF, Decimal("0.2"), effective_from=now, reason="repricing"
    )
    await valuation.set_point_value(
        runtime, STAFF, Decimal("0.5"), effective_from=now + timedelta(days=1), reason="later"
    )
    quote = await checkout.quote(runtime, member, Decimal("100.00"))
    # half the basket at most: 250 points at 0.2 (500 at the default 0.1, 100 at 0.5 later)
    assert (quote.max_points, quote.cash_value) == (250, Decimal("50.00"))
    after = await hold(runtime, member, "till-v2", 100)
    assert after.cash_value == Decimal("20.00")
