"""Referrals on the database: rewards on the first purchase, caps, refusals, races."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.clock import FrozenClock
from app.config import Settings
from app.configcache import generation_of
from app.earning import usecases as earning
from app.earning.commands import PurchaseLineInput, RecordPurchase
from app.engagement import usecases
from app.engagement.tables import referrals
from app.errors import DomainError, ErrorCode
from app.events.tables import events
from app.ledger import usecases as ledger
from app.ledger.audit import audit_ledger
from app.ledger.models import Actor
from app.runtime import Runtime
from app.tables import metadata
from app.tiers import usecases as tiers
from tests.engagement.conftest import NewMember, actor_of

POS = Actor("partner:shop", "pos")


async def buy(runtime: Runtime, member: int, order: str) -> None:
    line = PurchaseLineInput("sku", "grocery", 1, Decimal("10"))
    await earning.record_purchase(
        runtime, POS, RecordPurchase(member_id=member, channel="pos", order_id=order, lines=[line])
    )


async def total(runtime: Runtime, member: int) -> int:
    return (await ledger.get_balance(runtime, member)).total


async def invite(runtime: Runtime, referrer: int, friend: int) -> None:
    code = await usecases.issue_invite_code(runtime, referrer)
    await usecases.accept_invite(runtime, actor_of(friend), friend, code)


async def refused(runtime: Runtime, friend: int, code: str) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await usecases.accept_invite(runtime, actor_of(friend), friend, code)
    return caught.value


async def test_both_get_one_hundred_on_the_first_purchase_only(
    runtime: Runtime, new_member: NewMember
) -> None:
    referrer, friend = await new_member("r"), await new_member("f")
    await invite(runtime, referrer, friend)
    assert await total(runtime, friend) == 0  # nothing until the purchase

    await buy(runtime, friend, "first")
    await buy(runtime, friend, "second")

    assert (await total(runtime, friend), await total(runtime, referrer)) == (100, 100)
    summary = await usecases.referral_summary(runtime, referrer)
    assert [(f.friend_id, f.status) for f in summary.friends] == [(friend, "rewarded")]
    assert summary.rewarded_this_month == 1
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report.render()


async def test_self_second_referrer_unknown_code_cycles_and_old_members_are_refused(
    runtime: Runtime, clock: FrozenClock, new_member: NewMember
) -> None:
    a, b, c = await new_member("a"), await new_member("b"), await new_member("c")
    code_a, code_b, code_c = [await usecases.issue_invite_code(runtime, m) for m in (a, b, c)]

    assert (await refused(runtime, a, code_a)).code is ErrorCode.INVALID_INPUT  # self
    await usecases.accept_invite(runtime, actor_of(b), b, code_a)  # a refers b
    assert (await refused(runtime, b, code_c)).code is ErrorCode.ALREADY_EXISTS  # one referrer
    await usecases.accept_invite(runtime, actor_of(c), c, code_b)  # b refers c
    assert (await refused(runtime, a, code_c)).code is ErrorCode.INVALID_INPUT  # a cycle
    assert (await refused(runtime, a, "NOPE2345")).code is ErrorCode.NOT_FOUND
    buyer = await new_member("buyer")
    await buy(runtime, buyer, "o1")
    assert (await refused(runtime, buyer, code_a)).code is ErrorCode.INVALID_INPUT  # has bought
    clock.advance(timedelta(days=31))
    late = await new_member("late")  # registered now: still new
    clock.advance(timedelta(days=31))
    assert (await refused(runtime, late, code_a)).code is ErrorCode.INVALID_INPUT  # too old

    async with runtime.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(referrals)) == 2


async def test_the_referrer_cap_per_month_holds_under_concurrent_first_purchases(
    runtime: Runtime, settings: Settings, new_member: NewMember
) -> None:
    capped = Runtime(
        settings=settings.model_copy(update={"engagement_referral_monthly_cap": 3}),
        engine=runtime.engine,
        redis=runtime.redis,
        clock=runtime.clock,
    )
    referrer = await new_member("r")
    friends = [await new_member(f"f{n}") for n in range(6)]
    for friend in friends:
        await invite(capped, referrer, friend)

    await asyncio.gather(*(buy(capped, f, f"o{f}") for f in friends))

    assert await total(runtime, referrer) == 300
    assert [await total(runtime, f) for f in friends] == [100] * 6
    summary = await usecases.referral_summary(capped, referrer)
    assert sum(f.referrer_rewarded for f in summary.friends) == 3
    assert summary.rewarded_this_month == 3
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report.render()


async def test_invite_codes_are_stable_and_unique(runtime: Runtime, new_member: NewMember) -> None:
    a, b = await new_member("a"), await new_member("b")
    first = await usecases.issue_invite_code(runtime, a)
    again = await usecases.issue_invite_code(runtime, a)
    other = await usecases.issue_invite_code(runtime, b)
    assert first == again != other and len(first) == 8
    assert (await usecases.referral_summary(runtime, a)).invite_code == first


async def database_state(runtime: Runtime) -> dict[str, str]:
    """Every table's generation (rows and newest xmin): any insert, update or delete moves it.
    The outbox by its rows and newest id: the relay marks events published in the background
    (an API's own, not the request's)."""
    outbox = select(func.concat(func.count(), ":", func.max(events.c.id))).scalar_subquery()
    columns = [
        (outbox if table is events else generation_of(table)).label(table.name)
        for table in metadata.sorted_tables
    ]
    async with runtime.engine.connect() as conn:
        return dict((await conn.execute(select(*columns))).one()._mapping)


async def test_reading_the_referrals_writes_nothing(
    runtime: Runtime, new_member: NewMember
) -> None:
    a = await new_member("a")
    before = await database_state(runtime)
    summary = await usecases.referral_summary(runtime, a)
    assert summary.invite_code is None  # not issued yet: the read does not make one
    assert await database_state(runtime) == before

    code = await usecases.issue_invite_code(runtime, a)
    issued = await database_state(runtime)
    assert issued != before  # the state can tell a write
    assert (await usecases.referral_summary(runtime, a)).invite_code == code
    assert await database_state(runtime) == issued


async def test_three_friends_who_buy_complete_the_invite_tier_task(
    runtime: Runtime, new_member: NewMember
) -> None:
    referrer = await new_member("r")
    await buy(runtime, referrer, "own")  # a member with a tier (its first activity)
    friends = [await new_member(f"f{n}") for n in range(3)]
    for friend in friends:
        await invite(runtime, referrer, friend)
    before = await tiers.tier_progress(runtime, referrer)

    for friend in friends:
        await buy(runtime, friend, f"o{friend}")

    after = await tiers.tier_progress(runtime, referrer)
    assert before is not None and after is not None
    assert after.current.rank == before.current.rank + 1
