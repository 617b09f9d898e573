"""Partner exchange (积分联盟) on the database: rates, limits, idempotency on the partner's
reference, refusals that change nothing, the partner's programme account."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from app.clock import FrozenClock
from app.errors import ErrorCode
from app.ledger import usecases as ledger
from app.ledger.audit import audit_ledger
from app.ledger.models import Actor, EntryKind
from app.lifecycle.exchange import (
    Direction,
    Partner,
    PartnerTerms,
    convert,
    exchange_points,
    ours,
    save_partner,
)
from app.members import usecases as members
from app.members.models import MemberStatus
from app.runtime import Runtime
from tests.ledger.test_service import earn, ledger_snapshot, new_member, programme_balance, refused

STAFF = Actor("staff:ops", "api")
OUT = Direction.OUT
AIRLINE = PartnerTerms(
    code="airline",
    name="Sky Miles",
    rate_in=Decimal("0.5"),  # 2 miles → 1 point
    rate_out=Decimal("1.5"),  # 1 point → 1.5 miles
    min_points=10,
    max_points=5_000,
    daily_limit=8_000,
)


@pytest.fixture(autouse=True)
async def _audit_after(runtime: Runtime, clock: FrozenClock) -> AsyncIterator[None]:
    yield
    report = await audit_ledger(runtime.engine, clock.now())
    assert report.ok, report.render()


def test_conversion_rounds_down_and_checks_limits() -> None:
    partner = Partner(**AIRLINE.__dict__)
    assert convert(101, Decimal("0.5")) == 50
    assert ours(Direction.IN, 101, partner) == (101, 50, Decimal("0.5"))
    assert ours(Direction.OUT, 101, partner) == (151, 101, Decimal("1.5"))
    with pytest.raises(Exception, match="positive"):
        ours(Direction.IN, -4, partner)
    with pytest.raises(Exception, match="too few"):
        ours(Direction.IN, 1, partner)
    with pytest.raises(Exception, match=r"10\.\.5000"):
        ours(Direction.IN, 18, partner)  # 9 points: below the minimum


async def exchange(rt: Runtime, member: int, ref: str, amount: int, direction=Direction.IN):
    return await exchange_points(
        rt,
        STAFF,
        partner_code="airline",
        partner_ref=ref,
        direction=direction,
        member_id=member,
        amount=amount,
    )


async def test_miles_in_and_points_out_through_the_partner_account(runtime: Runtime) -> None:
    await save_partner(runtime, STAFF, AIRLINE)
    m = await new_member(runtime)

    came_in = await exchange(runtime, m, "sky-1", 1_000)  # 1,000 miles → 500 points
    assert (came_in.partner_points, came_in.points, came_in.replayed) == (1_000, 500, False)
    went_out = await exchange(runtime, m, "sky-2", 200, Direction.OUT)  # 200 points → 300 miles
    assert (went_out.partner_points, went_out.points) == (300, 200)

    assert (await ledger.get_balance(runtime, m)).available == 300
    assert await programme_balance(runtime, "partner:airline") == -300
    kinds = [e.kind for e in await ledger.list_history(runtime, m, first=5)]
    assert kinds == [EntryKind.EXCHANGE_OUT, EntryKind.EXCHANGE_IN]
    (lot,) = await ledger.list_lots(runtime, m, first=5)
    assert lot.expires_at is not None  # converted points follow the programme's expiry


async def test_a_replayed_reference_returns_the_first_exchange_and_changes_nothing(
    runtime: Runtime,
) -> None:
    await save_partner(runtime, STAFF, AIRLINE)
    m = await new_member(runtime)
    first = await exchange(runtime, m, "sky-1", 1_000)
    before = await ledger_snapshot(runtime)

    replays = await asyncio.gather(*(exchange(runtime, m, "sky-1", 1_000) for _ in range(5)))

    assert all(r.replayed and r.id == first.id for r in replays)
    assert await ledger_snapshot(runtime) == before
    error = await refused(ErrorCode.IDEMPOTENCY_KEY_REUSED, exchange(runtime, m, "sky-1", 999))
    assert error.field == "idempotencyKey"
    assert await ledger_snapshot(runtime) == before


async def test_bad_exchanges_are_refused_and_change_nothing(
    runtime: Runtime, clock: FrozenClock
) -> None:
    await save_partner(runtime, STAFF, AIRLINE)
    m = await new_member(runtime)
    frozen = await new_member(runtime, "frozen")
    poor = await new_member(runtime, "poor")
    await earn(runtime, poor, 50)
    await earn(runtime, frozen, 500)
    await members.set_status(
        runtime, member_id=frozen, status=MemberStatus.FROZEN, reason="risk", actor="staff:r"
    )
    await exchange(runtime, m, "big-1", 10_000)  # 5,000 points: the per-exchange maximum
    before = await ledger_snapshot(runtime)

    unknown = exchange_points(
        runtime,
        STAFF,
        partner_code="no-such-partner",
        partner_ref="x",
        direction=Direction.IN,
        member_id=m,
        amount=100,
    )
    cases = [
        (ErrorCode.NOT_FOUND, "partnerCode", unknown),
        (ErrorCode.INVALID_INPUT, "amount", exchange(runtime, m, "neg", -100)),
        (ErrorCode.LIMIT_REACHED, "amount", exchange(runtime, m, "huge", 10_002)),
        (ErrorCode.LIMIT_REACHED, "amount", exchange(runtime, m, "day", 8_000)),  # 5,000 + 4,000
        (
            ErrorCode.INSUFFICIENT_POINTS,
            "amount",
            exchange(runtime, poor, "out", 100, OUT),
        ),
        (
            ErrorCode.MEMBER_NOT_ACTIVE,
            "memberId",
            exchange(runtime, frozen, "f", 20, OUT),
        ),
        (ErrorCode.NOT_FOUND, "memberId", exchange(runtime, 999_999, "ghost", 100)),
        (ErrorCode.INVALID_INPUT, "partnerRef", exchange(runtime, m, "", 100)),
    ]
    for code, field, attempt in cases:
        error = await refused(code, attempt)
        assert error.field == field, (code, error.message)
    assert await ledger_snapshot(runtime) == before

    await save_partner(runtime, STAFF, PartnerTerms(**{**AIRLINE.__dict__, "enabled": False}))
    await refused(ErrorCode.INVALID_INPUT, exchange(runtime, m, "off", 100))
    assert await ledger_snapshot(runtime) == before
    # A partner switched off still gets the answer to an exchange it already made.
    assert (await exchange(runtime, m, "big-1", 10_000)).replayed


async def test_partner_terms_are_checked(runtime: Runtime) -> None:
    bad = [
        {"code": "Has Spaces"},
        {"rate_in": Decimal(0)},
        {"min_points": 0},
        {"min_points": 100, "max_points": 10},
        {"daily_limit": 10},
    ]
    for change in bad:
        await refused(
            ErrorCode.INVALID_INPUT,
            save_partner(runtime, STAFF, PartnerTerms(**{**AIRLINE.__dict__, **change})),
        )
