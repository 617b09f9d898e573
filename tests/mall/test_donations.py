"""Donations: a spend into the charity's account, a running total, idempotent per key."""

from __future__ import annotations

import asyncio

import pytest

from app.errors import DomainError, ErrorCode
from app.ledger import usecases as ledger
from app.mall import donations
from app.runtime import Runtime
from tests.mall.conftest import MakeMember, assert_audit_clean, member_actor


async def give(runtime: Runtime, member: int, points: int, key: str) -> donations.Donation:
    return await donations.donate(
        runtime,
        member_actor(member),
        member_id=member,
        charity_code="trees",
        points=points,
        idempotency_key=key,
    )


async def test_donations_add_up_per_charity(runtime: Runtime, make_member: MakeMember) -> None:
    await donations.create_charity(runtime, "trees", "Plant a tree")
    await donations.create_charity(runtime, "books", "Books for schools")
    a = await make_member("a", 500)
    b = await make_member("b", 500)

    await asyncio.gather(*(give(runtime, m, 30, f"d{n}") for n, m in enumerate([a, a, b, b, b])))
    replay = await give(runtime, a, 30, "d0")

    totals = {c.code: (c.total_donated, c.donors) for c in await donations.list_charities(runtime)}
    assert totals == {"trees": (150, 2), "books": (0, 0)}
    assert replay.points == 30
    assert (await ledger.get_balance(runtime, a)).available == 440
    await assert_audit_clean(runtime)


async def test_a_refused_donation_changes_nothing(
    runtime: Runtime, make_member: MakeMember
) -> None:
    await donations.create_charity(runtime, "trees", "Plant a tree")
    member = await make_member("a", 20)
    for points, code in ((21, ErrorCode.INSUFFICIENT_POINTS), (0, ErrorCode.INVALID_INPUT)):
        with pytest.raises(DomainError) as refused:
            await give(runtime, member, points, f"k{points}")
        assert refused.value.code is code
    with pytest.raises(DomainError) as unknown:
        await donations.donate(
            runtime,
            member_actor(member),
            member_id=member,
            charity_code="nope",
            points=1,
            idempotency_key="x",
        )
    assert unknown.value.code is ErrorCode.NOT_FOUND
    assert (await donations.get_charity(runtime, "trees")).total_donated == 0
    assert (await ledger.get_balance(runtime, member)).available == 20
