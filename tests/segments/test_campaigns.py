"""Segment bonus campaigns: each targeted member credited once however often the campaign runs,
in how many processes at once, or after its process is killed mid-way; the budget holds; bad
terms change nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from uuid import uuid4

import pytest
from sqlalchemy import text

from app.clock import FrozenClock
from app.config import Settings
from app.errors import DomainError, ErrorCode
from app.ledger.models import Actor, MemberStatus
from app.ledger.service import Ledger, LedgerPolicy
from app.members import usecases as members
from app.runtime import Runtime
from app.segments.campaigns import (
    cancel_campaign,
    get_campaign,
    grant_chunk,
    run_campaign,
    start_campaign,
)
from app.segments.usecases import recompute_segments
from tests.eventually import eventually

STAFF = Actor("staff:tester", "test", frozenset({"admin"}), kind="staff")


async def hibernating(rt: Runtime, clock: FrozenClock, n: int) -> list[int]:
    """``n`` members registered 40 days ago and never active since: all hibernating."""
    at = clock.now()
    clock.set(at - timedelta(days=40))
    ids = [
        (await members.register_member(rt, channel="pos", external_ref=uuid4().hex)).member.id
        for _ in range(n)
    ]
    clock.set(at)
    await recompute_segments(rt)
    return ids


async def credits(rt: Runtime, code: str) -> dict[int, int]:
    """Per member: how many campaign credits the ledger holds."""
    async with rt.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT member_id, count(*) AS n, sum(amount) AS points FROM entries "
                "WHERE reference = :ref AND kind = 'earn' GROUP BY member_id"
            ),
            {"ref": f"segment-campaign:{code}"},
        )
        return {r.member_id: int(r.n) for r in rows}


async def start(rt: Runtime, code: str, points: int = 100, budget: int = 10_000) -> int:
    campaign = await start_campaign(
        rt, STAFF, code=code, segment="hibernating", points=points, budget=budget, reason="wake up"
    )
    return campaign.id


async def test_a_campaign_credits_each_member_once_however_often_it_runs(
    runtime: Runtime, clock: FrozenClock
) -> None:
    ids = await hibernating(runtime, clock, 5)
    campaign_id = await start(runtime, "wake-1")
    done = await run_campaign(runtime, campaign_id, chunk=2)
    assert (done.status, done.granted_members, done.granted_points) == ("done", 5, 500)
    again = await run_campaign(runtime, campaign_id, chunk=2)
    assert again.granted_points == 500
    assert await start(runtime, "wake-1") == campaign_id  # started again: the same campaign
    await run_campaign(runtime, campaign_id)
    assert await credits(runtime, "wake-1") == dict.fromkeys(ids, 1)


async def test_two_runners_at_once_credit_once_and_keep_the_budget(
    runtime: Runtime, clock: FrozenClock
) -> None:
    ids = await hibernating(runtime, clock, 6)
    campaign_id = await start(runtime, "wake-2", points=100, budget=350)
    await asyncio.gather(*(run_campaign(runtime, campaign_id, chunk=1) for _ in range(3)))
    done = await get_campaign(runtime, campaign_id)
    assert (done.granted_members, done.granted_points, done.skipped_members) == (3, 300, 3)
    assert await credits(runtime, "wake-2") == dict.fromkeys(ids[:3], 1)


async def test_starting_one_code_at_once_makes_one_campaign(
    runtime: Runtime, clock: FrozenClock
) -> None:
    await hibernating(runtime, clock, 3)
    found = await asyncio.gather(*(start(runtime, "wake-3") for _ in range(4)))
    assert len(set(found)) == 1
    assert (await get_campaign(runtime, found[0])).members == 3


async def test_a_member_closed_since_it_was_targeted_is_skipped(
    runtime: Runtime, clock: FrozenClock
) -> None:
    first, second = await hibernating(runtime, clock, 2)
    campaign_id = await start(runtime, "wake-4")
    await members.set_status(
        runtime, member_id=second, status=MemberStatus.CLOSED, reason="left", actor="staff:t"
    )
    done = await run_campaign(runtime, campaign_id)
    assert (done.granted_members, done.skipped_members) == (1, 1)
    assert await credits(runtime, "wake-4") == {first: 1}


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"code": ""}, "code"),
        ({"segment": "vip"}, "segment"),
        ({"points": 0}, "points"),
        ({"budget": 50}, "budget"),
        ({"reason": " "}, "reason"),
    ],
)
async def test_bad_terms_are_refused_and_change_nothing(
    runtime: Runtime, clock: FrozenClock, terms: dict[str, object], field: str
) -> None:
    await hibernating(runtime, clock, 1)
    asked: dict[str, object] = {
        "code": "bad",
        "segment": "hibernating",
        "points": 100,
        "budget": 1_000,
        "reason": "r",
        **terms,
    }
    with pytest.raises(DomainError) as refused:
        await start_campaign(runtime, STAFF, **asked)  # type: ignore[arg-type]
    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_INPUT, field)
    async with runtime.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM segment_campaigns")) == 0


async def test_the_same_code_with_other_terms_is_refused(
    runtime: Runtime, clock: FrozenClock
) -> None:
    await hibernating(runtime, clock, 1)
    await start(runtime, "wake-5", points=100)
    with pytest.raises(DomainError) as refused:
        await start(runtime, "wake-5", points=200)
    assert refused.value.code is ErrorCode.ALREADY_EXISTS


async def test_a_run_killed_mid_way_resumes_and_credits_each_member_once(
    runtime: Runtime, clock: FrozenClock, settings: Settings
) -> None:
    ids = await hibernating(runtime, clock, 6)
    campaign_id = await start(runtime, "wake-6")
    assert settings.database_url and settings.redis_url and settings.jwt_secret
    env = {
        **os.environ,
        "JIFEN_DATABASE_URL": settings.database_url,
        "JIFEN_REDIS_URL": settings.redis_url,
        "JIFEN_JWT_SECRET": settings.jwt_secret,
    }
    # The fourth member's account is locked here: the run grants three chunks of one, then
    # waits inside the fourth chunk's transaction, where it is killed.
    async with runtime.engine.connect() as blocker:
        await blocker.execute(
            text("SELECT 1 FROM accounts WHERE member_id = :m FOR UPDATE"), {"m": ids[3]}
        )
        child = subprocess.Popen(  # noqa: ASYNC220 (killed below, on purpose)
            [sys.executable, "-m", "app.cli", "segments", "campaign-run", "wake-6", "--chunk", "1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:

            async def three_granted() -> bool:
                return (await get_campaign(runtime, campaign_id)).granted_members == 3

            await eventually(three_granted, within=60)
        finally:
            child.kill()
            child.wait()
        await blocker.rollback()
    killed = await get_campaign(runtime, campaign_id)
    assert (killed.status, killed.granted_members) == ("running", 3)
    done = await run_campaign(runtime, campaign_id)
    assert (done.status, done.granted_members, done.granted_points) == ("done", 6, 600)
    assert await credits(runtime, "wake-6") == dict.fromkeys(ids, 1)


async def test_a_cancelled_campaign_keeps_what_it_credited_and_credits_no_more(
    runtime: Runtime, clock: FrozenClock
) -> None:
    ids = await hibernating(runtime, clock, 5)
    campaign_id = await start(runtime, "wake-cancel")
    async with runtime.engine.begin() as conn:  # one chunk of two, as the job would
        ledger = Ledger(conn, runtime.clock, LedgerPolicy.from_settings(runtime.settings))
        await grant_chunk(conn, ledger, campaign_id, clock.now(), 2)
    cancelled = await cancel_campaign(runtime, STAFF, code="wake-cancel", reason="wrong segment")
    assert (cancelled.status, cancelled.granted_members, cancelled.skipped_members) == (
        "cancelled",
        2,
        3,
    )
    assert (cancelled.cancelled_by, cancelled.cancel_reason) == ("staff:tester", "wrong segment")
    assert cancelled.pending_members == 0
    after = await run_campaign(runtime, campaign_id)  # the job again: nothing more
    assert (after.status, after.granted_points) == ("cancelled", 200)
    assert await credits(runtime, "wake-cancel") == dict.fromkeys(ids[:2], 1)
    again = await cancel_campaign(runtime, STAFF, code="wake-cancel", reason="other")
    assert again == cancelled  # cancelled already: the same answer, the first reason kept


async def test_cancelling_is_refused_for_a_finished_or_unknown_campaign_or_without_reason(
    runtime: Runtime, clock: FrozenClock
) -> None:
    await hibernating(runtime, clock, 2)
    campaign_id = await start(runtime, "wake-done")
    await run_campaign(runtime, campaign_id)
    cases = [
        ("wake-done", "late", ErrorCode.INVALID_STATE, "code"),
        ("nope", "why", ErrorCode.NOT_FOUND, "code"),
        ("wake-done", " ", ErrorCode.INVALID_INPUT, "reason"),
    ]
    for code, reason, error, field in cases:
        with pytest.raises(DomainError) as refused:
            await cancel_campaign(runtime, STAFF, code=code, reason=reason)
        assert (refused.value.code, refused.value.field) == (error, field)
    done = await get_campaign(runtime, campaign_id)
    assert (done.status, done.granted_members, done.cancelled_by) == ("done", 2, None)


async def test_a_cancel_racing_runners_leaves_every_member_credited_once_or_skipped(
    runtime: Runtime, clock: FrozenClock
) -> None:
    ids = await hibernating(runtime, clock, 12)
    campaign_id = await start(runtime, "wake-race")
    await asyncio.gather(
        run_campaign(runtime, campaign_id, chunk=1),
        run_campaign(runtime, campaign_id, chunk=1),
        cancel_campaign(runtime, STAFF, code="wake-race", reason="stop"),
    )
    done = await get_campaign(runtime, campaign_id)
    credited = await credits(runtime, "wake-race")
    assert done.status == "cancelled"
    assert set(credited.values()) <= {1} and set(credited) <= set(ids)
    assert done.granted_members == len(credited)
    assert done.granted_points == 100 * len(credited)
    assert done.granted_members + done.skipped_members == 12
