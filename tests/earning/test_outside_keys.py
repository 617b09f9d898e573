"""An order id, a refund id and an event id are claimed across members in ``outside_keys``
(app/members/claims.py), so the member tables' keys carry member_id (Citus) while a key sent
for one member still cannot be used for another: sent again for another member it is answered
as before (replayed or refused), and two members racing for it get one row, the other nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest
from sqlalchemy import func, select

from app.earning import usecases
from app.earning.commands import RecordEvent, RecordPurchase, RecordRefund
from app.earning.tables import earning_events, purchases, refunds
from app.errors import DomainError, ErrorCode
from app.ledger import usecases as ledger
from app.members import usecases as members
from app.members.tables import outside_keys
from app.runtime import Runtime
from tests.earning.conftest import BASE, POS, SHARE, AddRules, lines
from tests.mall.test_audit import corrupt, failed_checks

CLAIM_CHECK = "each key from outside is claimed by the one member whose row names it"


async def _two(runtime: Runtime) -> tuple[int, int]:
    a, b = [
        (await members.register_member(runtime, channel="pos", external_ref=ref)).member.id
        for ref in ("a", "b")
    ]
    return a, b


async def _claims(runtime: Runtime) -> list[tuple[str, str, str, int]]:
    """The claims but the members' channel refs (their registration's, migration 0056)."""
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            select(outside_keys)
            .where(outside_keys.c.kind != "channel_ref")
            .order_by(outside_keys.c.kind)
        )
        return [(r.kind, r.scope, r.ref, r.member_id) for r in rows]


async def _count(runtime: Runtime, table: Any, member: int) -> int:
    async with runtime.engine.connect() as conn:
        found = await conn.scalar(
            select(func.count()).select_from(table).where(table.c.member_id == member)
        )
    return int(found or 0)


def _purchase(member: int, order: str = "o1", amount: str = "100") -> RecordPurchase:
    return RecordPurchase(member_id=member, channel="pos", order_id=order, lines=lines(amount))


async def test_an_order_id_sent_again_for_another_member_is_refused_and_earns_nothing(
    runtime: Runtime, add_rules: AddRules
) -> None:
    await add_rules(BASE)
    a, b = await _two(runtime)
    first = await usecases.record_purchase(runtime, POS, _purchase(a))
    replay = await usecases.record_purchase(runtime, POS, _purchase(a))
    assert replay.replayed and replay.purchase.id == first.purchase.id
    # For another member, even with the same basket, the order is another request: refused.
    for basket in ("100", "999"):
        with pytest.raises(DomainError) as refused:
            await usecases.record_purchase(runtime, POS, _purchase(b, amount=basket))
        assert (refused.value.code, refused.value.field) == (
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "orderId",
        )
    assert (await _count(runtime, purchases, b), (await ledger.get_balance(runtime, b)).total) == (
        0,
        0,
    )
    assert await _claims(runtime) == [("purchase", "pos", "o1", a)]
    assert await failed_checks(runtime) == set()


async def _one_of(field: str, *writes: Awaitable[Any]) -> Any:
    """Writes racing for one key: the one that got it (every other refused on ``field``)."""
    results = await asyncio.gather(*writes, return_exceptions=True)
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == len(writes) - 1, results
    assert all(isinstance(r, DomainError) and r.field == field for r in refused), refused
    return next(r for r in results if not isinstance(r, BaseException))


async def test_two_members_racing_for_an_event_id_get_one_event(
    runtime: Runtime, add_rules: AddRules
) -> None:
    await add_rules(SHARE)
    a, b = await _two(runtime)
    done = await _one_of(
        "eventId",
        *(
            usecases.record_event(
                runtime, POS, RecordEvent(member_id=m, channel="app", event_id="e1", name="share")
            )
            for m in (a, b)
        ),
    )
    winner, loser = (a, b) if done.member_id == a else (b, a)
    counted = [await _count(runtime, earning_events, m) for m in (winner, loser)]
    assert (counted, (await ledger.get_balance(runtime, loser)).total) == ([1, 0], 0)
    assert await _claims(runtime) == [("event", "app", "e1", winner)]
    assert await failed_checks(runtime) == set()


async def test_a_refund_id_is_one_refund_across_members(
    runtime: Runtime, add_rules: AddRules
) -> None:
    await add_rules(BASE)
    a, b = await _two(runtime)
    await usecases.record_purchase(runtime, POS, _purchase(a, "oa"))
    await usecases.record_purchase(runtime, POS, _purchase(b, "ob"))
    done = await _one_of(
        "refundId",
        *(
            usecases.record_refund(
                runtime, POS, RecordRefund(channel="pos", order_id=order, refund_id="r1")
            )
            for order in ("oa", "ob")
        ),
    )
    winner = done.purchase.member_id
    assert [await _count(runtime, refunds, m) for m in (a, b)] == [
        int(winner == a),
        int(winner == b),
    ]
    assert [k for k in await _claims(runtime) if k[0] == "refund"] == [
        ("refund", "pos", "r1", winner)
    ]
    assert await failed_checks(runtime) == set()


async def test_the_audit_reports_a_key_not_claimed_by_its_rows_member(
    runtime: Runtime, add_rules: AddRules
) -> None:
    await add_rules(BASE)
    a, b = await _two(runtime)
    await usecases.record_purchase(runtime, POS, _purchase(a))
    await corrupt(runtime, f"UPDATE outside_keys SET member_id = {b} WHERE kind = 'purchase'")
    assert await failed_checks(runtime) == {CLAIM_CHECK}
    await corrupt(runtime, "DELETE FROM outside_keys WHERE kind = 'purchase'")
    assert await failed_checks(runtime) == {CLAIM_CHECK}
    await corrupt(runtime, f"INSERT INTO outside_keys VALUES ('purchase', 'pos', 'o1', {a})")
    await corrupt(runtime, f"INSERT INTO outside_keys VALUES ('event', 'app', 'none', {a})")
    assert await failed_checks(runtime) == {CLAIM_CHECK}
    await corrupt(runtime, "DELETE FROM outside_keys WHERE kind = 'event'")
    assert await failed_checks(runtime) == set()
