"""The audit's cross-checks between domain records and the ledger (issue 12).

A programme with one of each record (a fulfilled order, a draw that won points, a donation, a
gift, an exchange each way) passes; then each inconsistency a finance person would look for is
made (through the API where one can, else by SQL, simulating corruption) and must be reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import text

from app.ledger import usecases as ledger
from app.ledger.audit import audit_ledger
from app.ledger.commands import Reverse
from app.lifecycle.exchange import Direction, save_partner
from app.mall import donations, lottery
from app.mall import usecases as mall
from app.mall.lottery import PoolKind, PoolSpec, PrizeKind, PrizeSpec
from app.mall.policy import Fulfilment
from app.runtime import Runtime
from tests.lifecycle.test_exchange import AIRLINE, exchange
from tests.lifecycle.test_gifting import give as gift
from tests.mall.conftest import STAFF, SYSTEM, MakeItem, MakeMember, member_actor
from tests.mall.test_donations import give as donate
from tests.mall.test_lottery import draw
from tests.mall.test_redemptions import place

WINS_POINTS = PoolSpec(
    code="wheel",  # the code tests.mall.test_lottery.draw plays
    name="Always 30 points",
    kind=PoolKind.WHEEL,
    cost_points=10,
    prizes=(PrizeSpec("p30", "30 points", PrizeKind.POINTS, weight=1, points=30),),
)


@dataclass(frozen=True)
class Programme:
    member: int
    friend: int
    order: int
    commit_entry: int


@pytest.fixture
async def programme(runtime: Runtime, make_member: MakeMember, make_item: MakeItem) -> Programme:
    member = await make_member("buyer", points=2_000)
    friend = await make_member("friend", points=0)
    item = await make_item(stock=5, fulfilment=Fulfilment.SHIPPED)
    order = await place(runtime, member, item.id)
    confirmed = await mall.confirm_redemption(runtime, member_actor(member), order.id)
    await mall.fulfil_redemption(runtime, SYSTEM, order.id, "SF1")
    await lottery.create_pool(runtime, WINS_POINTS)
    await draw(runtime, member, "d1")
    await donations.create_charity(runtime, "trees", "Plant a tree")
    await donate(runtime, member, 50, "g1")
    await gift(runtime, member, friend, 40)
    await save_partner(runtime, STAFF, AIRLINE)
    await exchange(runtime, member, "in-1", 100)
    await exchange(runtime, member, "out-1", 100, Direction.OUT)
    assert confirmed.commit_entry_id is not None
    return Programme(member, friend, order.id, confirmed.commit_entry_id)


async def failed_checks(runtime: Runtime) -> set[str]:
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    return {check.name for check in report.checks if not check.ok}


async def corrupt(runtime: Runtime, sql: str) -> None:
    async with runtime.engine.begin() as conn:
        await conn.execute(text(sql))


async def test_a_clean_programme_passes(runtime: Runtime, programme: Programme) -> None:
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report.render()


async def test_a_fulfilled_order_whose_spend_came_back_fails(
    runtime: Runtime, programme: Programme
) -> None:
    # "By other means": staff reverse the order's spend directly; the ledger alone is sound.
    await ledger.reverse_entry(
        runtime,
        STAFF,
        Reverse(entry_id=programme.commit_entry, reason="goodwill"),
        idempotency_key="r1",
    )
    assert await failed_checks(runtime) == {"a done order's spend is its points and stands"}


# Each corruption by SQL, and the one check that must report it.
CORRUPTIONS = {
    "a done order's spend is its points and stands": (
        "UPDATE mall_orders SET points = points + 1, unit_points = unit_points + 1"
    ),
    "a returned order's return entry reverses its spend": (
        "UPDATE mall_orders SET status = 'returned', "
        "return_entry_id = (SELECT min(id) FROM entries)"
    ),
    "a draw's spend and points prize are its member's and stand": (
        "UPDATE lottery_draws SET prize_entry_id = spend_entry_id"
    ),
    "a donation is its member's spend of its points and stands": (
        "UPDATE entries SET reversed_amount = 1 WHERE id = (SELECT entry_id FROM donations)"
    ),
    "a gift is its sender's debit and its recipient's credit of its amount, both standing": (
        "UPDATE entries SET reversed_amount = 40 WHERE id = (SELECT received_entry_id FROM gifts)"
    ),
    "an exchange is its member's entry of its points and stands": (
        "UPDATE exchanges SET points = points * 2 WHERE direction = 'in'"
    ),
}
# A code's order is held by no foreign key (migration 0044): one naming an order that does not
# exist, or another member's, is reported.
ISSUED_CODE = (
    "INSERT INTO mall_coupon_codes (item_id, code, status, order_id, member_id, issued_at)"
    " SELECT item_id, 'audit-code', 'issued', {order}, {member}, now() FROM mall_orders"
)
CODE_CHECK = "an issued code names an order of its item and member"


@pytest.mark.parametrize(
    ("order", "member"), [("id + 1000", "member_id"), ("id", "member_id + 1"), ("id", "NULL")]
)
async def test_a_code_naming_an_order_not_its_own_is_reported(
    runtime: Runtime, programme: Programme, order: str, member: str
) -> None:
    await corrupt(runtime, ISSUED_CODE.format(order="id", member="member_id"))
    assert CODE_CHECK not in await failed_checks(runtime)  # its own order: sound
    await corrupt(runtime, "DELETE FROM mall_coupon_codes WHERE code = 'audit-code'")
    await corrupt(runtime, ISSUED_CODE.format(order=order, member=member))
    assert await failed_checks(runtime) == {CODE_CHECK}


@pytest.mark.parametrize("check", list(CORRUPTIONS))
async def test_each_domain_record_is_checked_against_its_entries(
    runtime: Runtime, programme: Programme, check: str
) -> None:
    await corrupt(runtime, CORRUPTIONS[check])
    assert check in await failed_checks(runtime)


async def test_a_gift_whose_received_entry_is_gone_is_reported(
    runtime: Runtime, programme: Programme
) -> None:
    # No foreign key holds the recipient's side (migration 0050): a dangling entry is the
    # audit's to find, as one naming another member's entry is.
    await corrupt(runtime, "UPDATE gifts SET received_entry_id = received_entry_id + 1000000")
    assert await failed_checks(runtime) == {
        "a gift is its sender's debit and its recipient's credit of its amount, both standing"
    }
