"""Campaign budgets under concurrency: a budget holds from the rule's very first payment.

Each round adds a fresh budgeted rule and races members' purchases (or events) on separate
connections before anything has been paid from it: the race the budget row's lazy creation lost.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from app.earning import usecases
from app.earning.commands import RecordEvent, RecordPurchase
from app.earning.tables import earning_budgets
from app.leaderboards.check import check_board
from app.leaderboards.projector import apply_pending
from app.ledger.audit import audit_ledger
from app.members import usecases as members
from app.runtime import Runtime
from tests.earning.conftest import POS, STAFF, AddRules, lines

ROUNDS = 6
RACERS = 10
BUDGET = 50

PURCHASE_BONUS = {
    "name": "+20 a purchase, 50 in all",
    "trigger": "purchase",
    "effect": {"kind": "fixed", "points": 20},
    "budget": BUDGET,
}
SHARE_BONUS = {
    "name": "+20 a share, 50 in all",
    "trigger": "event",
    "event": "share",
    "effect": {"kind": "fixed", "points": 20},
    "budget": BUDGET,
}


async def register(runtime: Runtime, count: int) -> list[int]:
    return [
        (await members.register_member(runtime, channel="pos", external_ref=f"b{i}")).member.id
        for i in range(count)
    ]


async def used(runtime: Runtime, rule_id: int) -> int | None:
    async with runtime.engine.connect() as conn:
        return await conn.scalar(
            select(earning_budgets.c.used).where(earning_budgets.c.rule_id == rule_id)
        )


async def pay(runtime: Runtime, trigger: str, member: int, ref: str) -> int:
    """Points one purchase (or one share event) of the member earned."""
    if trigger == "purchase":
        result = await usecases.record_purchase(
            runtime,
            POS,
            RecordPurchase(member_id=member, channel="pos", order_id=ref, lines=lines("10")),
        )
        return result.purchase.points
    event = await usecases.record_event(
        runtime, POS, RecordEvent(member_id=member, channel="app", event_id=ref, name="share")
    )
    return event.points


async def race(runtime: Runtime, trigger: str, racers: list[int], ref: str) -> int:
    """Every racer pays at once, each on its own connection; the total paid."""
    paid = await asyncio.gather(*(pay(runtime, trigger, m, f"{ref}-{m}") for m in racers))
    return sum(paid)


@pytest.mark.parametrize("trigger", ["purchase", "event"])
async def test_racing_members_never_overspend_a_new_budget(
    runtime: Runtime, add_rules: AddRules, trigger: str
) -> None:
    racers = await register(runtime, RACERS)
    for round_ in range(ROUNDS):
        (rule,) = await add_rules(PURCHASE_BONUS if trigger == "purchase" else SHARE_BONUS)
        paid = await race(runtime, trigger, racers, f"r{round_}")
        assert paid == BUDGET, f"round {round_}: paid {paid} of a budget of {BUDGET}"
        assert await used(runtime, rule) == BUDGET
        # The next round's rule alone pays, so each round's total is that rule's.
        await usecases.set_rule_enabled(runtime, STAFF, rule, False)
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report
    await apply_pending(runtime)  # the points board: every payment counted once
    board = await check_board(runtime)
    assert board.ok and sum(board.members.values()) > 0, board.render()


async def test_a_budget_added_by_a_rule_change_holds_from_its_first_payment(
    runtime: Runtime, add_rules: AddRules
) -> None:
    racers = await register(runtime, RACERS)
    unbudgeted: dict[str, Any] = {k: v for k, v in PURCHASE_BONUS.items() if k != "budget"}
    (rule,) = await add_rules(unbudgeted)
    await usecases.update_rule(runtime, STAFF, rule, PURCHASE_BONUS)
    assert await used(runtime, rule) == 0  # the budget's row exists before anything is paid
    assert await race(runtime, "purchase", racers, "u") == BUDGET
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report
