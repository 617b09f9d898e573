"""Crowdfunding against the real database: a campaign reached and one missed, each under
concurrent pledges, raises and withdrawals, ending with every hold committed or voided."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest
from sqlalchemy import text

from app.errors import DomainError, ErrorCode
from app.events.outbox import member_topic
from app.events.stream import read_events
from app.games import crowdfunding
from app.games.jobs import close_games
from app.games.lifecycle import Taken
from app.games.policy import CampaignOutcome, CampaignSpec, PledgeStatus
from app.ledger import usecases as ledger
from app.members import usecases as members
from app.members.models import MemberStatus
from app.runtime import Runtime
from tests.mall.conftest import STAFF, MakeMember, assert_audit_clean, member_actor

BACKERS = 60


async def campaign(runtime: Runtime, code: str, goal: int, **changes: object) -> int:
    now = runtime.clock.now()
    values: dict[str, object] = {
        "code": code,
        "name": "Trees",
        "purpose": "plant 100 trees",
        "goal": goal,
        "starts_at": now - timedelta(hours=1),
        "ends_at": now + timedelta(days=1),
    }
    values.update(changes)
    made = await crowdfunding.CAMPAIGNS.create(runtime, STAFF, CampaignSpec(**values))  # type: ignore[arg-type]
    return made.id


async def pledge(
    runtime: Runtime, member: int, campaign_id: int, amount: int, key: str
) -> Taken | DomainError:
    try:
        return await crowdfunding.pledge_points(
            runtime,
            member_actor(member),
            member_id=member,
            campaign_id=campaign_id,
            amount=amount,
            idempotency_key=key,
        )
    except DomainError as refused:
        return refused


async def withdraw(
    runtime: Runtime, member: int, campaign_id: int, key: str
) -> Taken | DomainError:
    try:
        return await crowdfunding.withdraw_pledge(
            runtime,
            member_actor(member),
            member_id=member,
            campaign_id=campaign_id,
            idempotency_key=key,
        )
    except DomainError as refused:
        return refused


async def crowd(runtime: Runtime, members: list[int], campaign_id: int, seed: int) -> None:
    """Each member pledges, may raise, may withdraw, may pledge again: all at once."""
    rng = random.Random(seed)

    async def backer(member: int) -> None:
        amount = 50 + 10 * rng.randrange(10)
        steps = ["pledge", *rng.sample(["raise", "withdraw", "pledge"], k=rng.randrange(4))]
        for n, step in enumerate(steps):
            if step == "withdraw":
                result = await withdraw(runtime, member, campaign_id, f"w{member}-{n}")
            else:
                amount += 20 if step == "raise" else 0
                result = await pledge(runtime, member, campaign_id, amount, f"p{member}-{n}")
            if isinstance(result, DomainError):
                # A raise to the same total, a withdrawal with nothing pledged: refused.
                assert result.code in {ErrorCode.INVALID_INPUT, ErrorCode.NOT_FOUND}, result

    await asyncio.gather(*(backer(m) for m in members))


async def standing(runtime: Runtime, campaign_id: int) -> dict[int, int]:
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT member_id, amount FROM pledges WHERE campaign_id = :c AND status = 'active'"
            ),
            {"c": campaign_id},
        )
        return {r.member_id: r.amount for r in rows}


async def hold_states(runtime: Runtime, campaign_id: int) -> dict[str, int]:
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT h.status, count(*) AS n FROM pledges p JOIN holds h ON h.id = p.hold_id "
                "WHERE p.campaign_id = :c GROUP BY h.status"
            ),
            {"c": campaign_id},
        )
        return {row.status: row.n for row in rows}


@pytest.mark.parametrize(("goal", "outcome"), [(1_000, "reached"), (1_000_000, "missed")])
async def test_a_campaign_under_concurrent_pledges_and_withdrawals_ends_every_hold(
    runtime: Runtime, make_member: MakeMember, goal: int, outcome: str
) -> None:
    campaign_id = await campaign(runtime, "trees", goal)
    members = [await make_member(f"c{n}", 1_000) for n in range(BACKERS)]
    await crowd(runtime, members, campaign_id, seed=goal)

    pledged = await standing(runtime, campaign_id)
    live = await crowdfunding.CAMPAIGNS.get(runtime, campaign_id)
    assert live.pledged == sum(pledged.values()) and live.backers == len(pledged)
    balances = await ledger.get_balances(runtime, members)
    for member in members:
        assert balances[member].held == pledged.get(member, 0), member
    await assert_audit_clean(runtime)

    runtime.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
    late = await pledge(runtime, members[0], campaign_id, 999, "late")
    assert isinstance(late, DomainError) and late.code is ErrorCode.ENDED
    assert (await close_games(runtime))["campaigns_closed"] == 1
    closed = await crowdfunding.CAMPAIGNS.get(runtime, campaign_id)
    assert closed.outcome is CampaignOutcome(outcome)
    assert closed.pledged == sum(pledged.values())
    states = await hold_states(runtime, campaign_id)
    assert "active" not in states
    assert states.get("committed", 0) == (len(pledged) if outcome == "reached" else 0)
    balances = await ledger.get_balances(runtime, members)
    for member in members:
        spent = pledged.get(member, 0) if outcome == "reached" else 0
        assert (balances[member].available, balances[member].held) == (1_000 - spent, 0)
    for member in pledged:
        events = await read_events(runtime.engine, member_topic(member), 0, limit=1000)
        assert sum(e.type == f"crowdfunding.{outcome}" for e in events) == 1
    await assert_audit_clean(runtime)


async def test_refusals_change_nothing(runtime: Runtime, make_member: MakeMember) -> None:
    fixed = await campaign(
        runtime, "fixed", 500, min_pledge=20, allow_raise=False, allow_withdraw=False
    )
    member = await make_member("m", 100)
    assert isinstance(await pledge(runtime, member, fixed, 30, "k1"), Taken)
    before = await crowdfunding.CAMPAIGNS.get(runtime, fixed)
    balance = await ledger.get_balance(runtime, member)
    other = await make_member("o", 10)
    cases = [
        (member, "pledge", 60, ErrorCode.INVALID_STATE),  # no raises here
        (member, "withdraw", 0, ErrorCode.INVALID_STATE),  # no withdrawals here
        (other, "pledge", 10, ErrorCode.INVALID_INPUT),  # below the minimum pledge
        (other, "pledge", 20, ErrorCode.INSUFFICIENT_POINTS),
    ]
    for n, (who, step, amount, code) in enumerate(cases):
        if step == "pledge":
            result = await pledge(runtime, who, fixed, amount, f"x{n}")
        else:
            result = await withdraw(runtime, who, fixed, f"x{n}")
        assert isinstance(result, DomainError) and result.code is code, (step, result)
    assert await crowdfunding.CAMPAIGNS.get(runtime, fixed) == before
    assert await ledger.get_balance(runtime, member) == balance

    flexible = await campaign(runtime, "flex", 500)
    nothing = await withdraw(runtime, other, flexible, "none")
    assert isinstance(nothing, DomainError) and nothing.code is ErrorCode.NOT_FOUND
    assert isinstance(await pledge(runtime, other, flexible, 5, "f1"), Taken)
    lower = await pledge(runtime, other, flexible, 5, "f2")
    assert isinstance(lower, DomainError) and lower.code is ErrorCode.INVALID_INPUT
    raised = await pledge(runtime, other, flexible, 8, "f3")
    assert isinstance(raised, Taken)
    assert (raised.game.pledged, raised.game.backers) == (8, 1)
    statuses = [p.status for p in await crowdfunding.CAMPAIGNS.stakes_of(runtime, other, first=10)]
    assert statuses == [PledgeStatus.ACTIVE, PledgeStatus.RAISED]
    assert (await ledger.get_balance(runtime, other)).held == 8
    await assert_audit_clean(runtime)


async def test_a_backer_frozen_before_the_close_is_taken_out_before_the_goal_is_judged(
    runtime: Runtime, make_member: MakeMember
) -> None:
    campaign_id = await campaign(runtime, "judged", 100)
    keen = await make_member("keen", 1_000)
    frozen = await make_member("frozen", 1_000)
    assert isinstance(await pledge(runtime, keen, campaign_id, 60, "a"), Taken)
    assert isinstance(await pledge(runtime, frozen, campaign_id, 60, "b"), Taken)
    await members.set_status(
        runtime, member_id=frozen, status=MemberStatus.FROZEN, reason="check", actor="staff:x"
    )
    runtime.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
    closed = await crowdfunding.CAMPAIGNS.close(runtime, STAFF, campaign_id)
    assert closed.outcome is CampaignOutcome.MISSED  # 60 of 100 without the frozen backer
    assert (closed.pledged, closed.backers) == (60, 1)
    for member in (keen, frozen):
        balance = await ledger.get_balance(runtime, member)
        assert (balance.available, balance.held) == (1_000, 0)
    await assert_audit_clean(runtime)
