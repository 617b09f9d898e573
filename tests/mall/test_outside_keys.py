"""A checkout's order reference is claimed across members in ``outside_keys``
(app/members/claims.py; migration 0053), so its table's key carries member_id (Citus) while two
members racing for one order still get one payment, the other a refusal and nothing held."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from app.errors import DomainError, ErrorCode
from app.ledger import usecases as ledger
from app.mall.tables import checkout_payments
from app.members.tables import outside_keys
from app.runtime import Runtime
from tests.mall.conftest import MakeMember, assert_audit_clean
from tests.mall.test_checkout import hold


async def _race(runtime: Runtime, a: int, b: int, write: Callable[[int], Awaitable[Any]]) -> int:
    """Both members at once; the one who got the key (the other refused)."""
    results = await asyncio.gather(write(a), write(b), return_exceptions=True)
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1, results
    assert isinstance(refused[0], DomainError), refused
    assert refused[0].code is ErrorCode.IDEMPOTENCY_KEY_REUSED
    return b if results[0] is refused[0] else a


async def _owners(runtime: Runtime, table: Any, kind: str) -> tuple[list[int], list[int]]:
    async with runtime.engine.connect() as conn:
        rows = list(await conn.scalars(select(table.c.member_id)))
        claims = list(
            await conn.scalars(select(outside_keys.c.member_id).where(outside_keys.c.kind == kind))
        )
    return rows, claims


async def test_two_members_paying_one_order_at_checkout_hold_points_once(
    runtime: Runtime, make_member: MakeMember
) -> None:
    a, b = await make_member("a", points=1_000), await make_member("b", points=1_000)
    winner = await _race(runtime, a, b, lambda m: hold(runtime, m, "till-9", 100))
    loser = b if winner == a else a
    assert await _owners(runtime, checkout_payments, "checkout") == ([winner], [winner])
    assert (await ledger.get_balance(runtime, loser)).held == 0
    await assert_audit_clean(runtime)
