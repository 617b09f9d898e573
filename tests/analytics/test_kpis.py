"""KPIs on the database: liability by the point value's history, channels, refusals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

import pytest

from app.analytics import usecases as analytics
from app.analytics.jobs import make_outlook
from app.analytics.policy import Granularity
from app.analytics.projector import apply_pending
from app.clock import FrozenClock
from app.errors import DomainError
from app.ledger import usecases as ledger
from app.ledger.commands import Earn
from app.ledger.models import Actor
from app.members import usecases as members
from app.runtime import Runtime
from app.valuation import usecases as valuation
from tests.statements import counting

STAFF = Actor("staff:tester", "test", frozenset({"admin"}), kind="staff")
# Noon in Shanghai on 1 March 2027.
NOON = datetime(2027, 3, 1, 4, 0, tzinfo=UTC)


async def member_earning(rt: Runtime, channel: str, amount: int) -> int:
    done = await members.register_member(rt, channel=channel, external_ref=uuid4().hex)
    await ledger.earn_points(
        rt,
        STAFF,
        Earn(member_id=done.member.id, amount=amount, reason="t"),
        idempotency_key=uuid4().hex,
    )
    return done.member.id


async def test_liability_uses_the_point_value_in_force_at_each_day_end(
    runtime: Runtime, clock: FrozenClock
) -> None:
    clock.set(NOON)
    await member_earning(runtime, "pos", 1_000)
    await valuation.set_point_value(
        runtime, STAFF, Decimal("0.2"), effective_from=NOON + timedelta(days=1), reason="repricing"
    )
    await apply_pending(runtime)
    found = await analytics.programme_kpis(
        runtime, date(2027, 2, 28), date(2027, 3, 3), granularity=Granularity.DAY
    )
    assert [(b.start.day, b.outstanding, b.liability) for b in found.buckets] == [
        (28, 0, Decimal("0")),
        (1, 1_000, Decimal("100.0")),
        (2, 1_000, Decimal("200.0")),
        (3, 1_000, Decimal("200.0")),
    ]
    assert found.liability == Decimal("200.0")
    assert [c.value for c in await valuation.point_value_changes(runtime)] == [Decimal("0.2")]


async def test_the_cost_of_points_takes_each_days_points_at_the_value_in_force_that_day(
    runtime: Runtime, clock: FrozenClock
) -> None:
    clock.set(NOON)  # 1 March: 1,000 points at 0.1
    member = await member_earning(runtime, "pos", 1_000)
    # From 2 March (Shanghai midnight) a point is worth 0.2; one set during 3 March counts
    # from 4 March.
    midnight = datetime(2027, 3, 1, 16, 0, tzinfo=UTC)
    await valuation.set_point_value(
        runtime, STAFF, Decimal("0.2"), effective_from=midnight, reason="repricing"
    )
    await valuation.set_point_value(
        runtime,
        STAFF,
        Decimal("0.5"),
        effective_from=midnight + timedelta(days=1, hours=12),
        reason="again",
    )
    for days, amount in ((1, 500), (2, 100), (3, 10)):
        clock.set(NOON + timedelta(days=days))
        await ledger.earn_points(
            runtime,
            STAFF,
            Earn(member_id=member, amount=amount, reason="t"),
            idempotency_key=uuid4().hex,
        )
    await apply_pending(runtime)
    found = await analytics.programme_kpis(runtime, date(2027, 3, 1), date(2027, 3, 4))
    # 1,000 x 0.1 + 500 x 0.2 + 100 x 0.2 + 10 x 0.5, not 1,610 x 0.5 (today's value)
    assert found.points_cost == Decimal("225.0")
    one_day = await analytics.programme_kpis(runtime, date(2027, 3, 2), date(2027, 3, 2))
    assert one_day.points_cost == Decimal("100.0")  # 500 at 0.2


async def test_a_channel_shows_its_own_members_and_points(
    runtime: Runtime, clock: FrozenClock
) -> None:
    clock.set(NOON)
    await member_earning(runtime, "pos", 300)
    await member_earning(runtime, "wechat", 50)
    await apply_pending(runtime)
    day = date(2027, 3, 1)
    with counting(runtime) as statements:  # every figure in one statement
        pos = await analytics.programme_kpis(runtime, day, day, channel="pos")
    assert len(statements) == 1, statements
    overall = await analytics.programme_kpis(runtime, day, day)
    assert (pos.totals.issued, pos.members, pos.buckets[0].active_members) == (300, 1, 1)
    assert (overall.totals.issued, overall.members, overall.buckets[0].active_members) == (
        350,
        2,
        2,
    )


@pytest.mark.parametrize(
    "value", [Decimal("0"), Decimal("-1"), Decimal("0.0000001"), Decimal("1e6")]
)
async def test_a_bad_point_value_is_refused_and_changes_nothing(
    runtime: Runtime, value: Decimal
) -> None:
    with pytest.raises(DomainError):
        await valuation.set_point_value(runtime, STAFF, value, effective_from=None, reason="x")
    assert await valuation.point_value_changes(runtime) == []


async def test_the_outlook_shows_pending_points_and_what_expires_in_each_month(
    runtime: Runtime, clock: FrozenClock
) -> None:
    clock.set(NOON)  # 1 March 2027 in Shanghai
    done = await members.register_member(runtime, channel="pos", external_ref=uuid4().hex)
    for amount, expires_in, pending_for in ((100, 40, 0), (30, 400, 0), (20, 20, 7)):
        await ledger.earn_points(
            runtime,
            STAFF,
            Earn(
                member_id=done.member.id,
                amount=amount,
                reason="t",
                available_at=NOON + timedelta(days=pending_for) if pending_for else None,
                expires_at=NOON + timedelta(days=expires_in),
            ),
            idempotency_key=uuid4().hex,
        )
    found = await analytics.programme_outlook(runtime)
    assert found.pending == 20
    assert [(m.month, m.points) for m in found.expiring if m.points] == [
        (date(2027, 3, 1), 20),
        (date(2027, 4, 1), 100),
    ]  # the 30 expire after the 12 months shown
    assert [m.month for m in found.expiring][::11] == [date(2027, 3, 1), date(2028, 2, 1)]
    assert found.point_value == Decimal("0.1")
    assert found.as_of == NOON


async def test_the_outlook_is_the_last_runs_until_the_job_runs_again(
    runtime: Runtime, clock: FrozenClock
) -> None:
    clock.set(NOON)  # 1 March 2027 in Shanghai
    member = (await members.register_member(runtime, channel="pos", external_ref="o")).member.id

    async def earn(amount: int, expires_in: int) -> None:
        await ledger.earn_points(
            runtime,
            STAFF,
            Earn(
                member_id=member,
                amount=amount,
                reason="t",
                expires_at=NOON + timedelta(days=expires_in),
            ),
            idempotency_key=uuid4().hex,
        )

    await earn(100, 100)  # expires in June
    first = await analytics.refresh_outlook(runtime)
    assert [(m.month, m.points) for m in first.expiring if m.points] == [(date(2027, 6, 1), 100)]
    clock.advance(timedelta(minutes=3))
    await earn(50, 40)  # expires in April
    assert await analytics.programme_outlook(runtime) == first  # as of the last run
    clock.advance(timedelta(minutes=10))
    await make_outlook(runtime)  # the analytics-outlook job
    again = await analytics.programme_outlook(runtime)
    assert again.as_of == clock.now()
    assert [(m.month, m.points) for m in again.expiring if m.points] == [
        (date(2027, 4, 1), 50),
        (date(2027, 6, 1), 100),
    ]
