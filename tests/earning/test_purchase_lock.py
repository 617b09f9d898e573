"""A purchase's rewards under the purchase's own lock (issue 21): the purchase's credit hands its
account lock back renewed, so a task's, the win-back's and the referral's earns for the member
neither lock nor read the member again, and a reward's log row takes its entry id in the
credit's statement. It writes exactly what the path that locks for every earn writes; a lock
gone stale under a write that bypassed it refuses instead of saving old balances."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app.clock import FrozenClock
from app.db import unit_of_work
from app.earning import usecases as earning
from app.earning.commands import PurchaseLineInput, RecordPurchase
from app.engagement import usecases as engagement
from app.engagement.rewards import Rewards
from app.engagement.tables import (
    engagement_profiles,
    engagement_rewards,
    member_badges,
    referrals,
    task_progress,
)
from app.events.tables import events
from app.ledger import usecases as ledger
from app.ledger.accounts import AccountLock
from app.ledger.audit import audit_ledger
from app.ledger.commands import Earn
from app.ledger.models import Actor
from app.ledger.tables import accounts, entries, lots
from app.members import usecases as members
from app.runtime import Runtime
from tests.statements import counting
from tests.test_statements import programme

STAFF = Actor("staff:alice", "api")
POS = Actor("partner:shop", "pos")
MORNING = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
# Three categories (the explorer task: 30 points and a badge), 1,000 CNY (the team-spend
# challenge: 200 points) and over 1,000 points (the monthly points challenge: a badge).
BASKET = [
    PurchaseLineInput("sku-1", "grocery", 2, Decimal("300")),
    PurchaseLineInput("sku-2", "beauty", 1, Decimal("300")),
    PurchaseLineInput("sku-3", "baby", 1, Decimal("400")),
]


async def referred_pair(runtime: Runtime, clock: FrozenClock) -> tuple[int, int]:
    """The demo programme, two friends a referrer invited, then the win-back's dormancy: a first
    purchase of each pays every kind of reward."""
    clock.set(MORNING)
    await programme(runtime)  # the demo programme: a task, a badge, the referral, win-back
    referrer, a, b = [await _member(runtime, ref) for ref in ("r", "a", "b")]
    for friend in (a, b):
        code = await engagement.issue_invite_code(runtime, referrer)
        await engagement.accept_invite(runtime, Actor(f"member:{friend}", "api"), friend, code)
    clock.advance(timedelta(days=runtime.settings.engagement_winback_dormant_days))
    return a, b


async def _member(runtime: Runtime, ref: str) -> int:
    return (await members.register_member(runtime, channel="pos", external_ref=ref)).member.id


async def _buy(
    runtime: Runtime, member: int, order: str, lines: list[PurchaseLineInput] = BASKET
) -> None:
    await earning.record_purchase(
        runtime, POS, RecordPurchase(member_id=member, channel="pos", order_id=order, lines=lines)
    )


def _plain(row: Any, member: int, order: str, *drop: str) -> str:
    """A row with the member's id and its order id spelled alike for every member."""
    text = repr({k: v for k, v in row._mapping.items() if k not in drop})
    return text.replace(f"member:{member}", "member:M").replace(order, "ORDER")


async def _written(runtime: Runtime, member: int, order: str) -> list[Any]:
    async with runtime.engine.connect() as conn:
        rows: list[Any] = []
        for table, drop, order_by in (
            (entries, ("id", "member_id", "created_at"), entries.c.id),
            (engagement_rewards, ("id", "member_id", "entry_id"), engagement_rewards.c.id),
            (lots, ("id", "account_id", "member_id", "entry_id"), lots.c.id),
            (accounts, ("id", "member_id", "code", "created_at"), accounts.c.id),
            (member_badges, ("member_id",), member_badges.c.badge_code),
            (task_progress, ("member_id",), task_progress.c.task_id),
            (engagement_profiles, ("member_id", "invite_code"), engagement_profiles.c.member_id),
        ):
            found = await conn.execute(
                select(table).where(table.c.member_id == member).order_by(order_by)
            )
            rows += [(table.name, _plain(r, member, order, *drop)) for r in found]
        found = await conn.execute(select(referrals).where(referrals.c.friend_id == member))
        rows += [("referrals", _plain(r, member, order, "friend_id")) for r in found]
        found = await conn.execute(
            select(events.c.type, events.c.payload)
            .where(events.c.topic == f"member:{member}", events.c.type != "member.registered")
            .order_by(events.c.id)
        )
        for r in found:
            payload = {k: v for k, v in r.payload.items() if k not in ("member_id", "friend_id")}
            if isinstance(payload.get("entry"), dict):
                payload["entry"] = {
                    k: v for k, v in payload["entry"].items() if k not in ("id", "created_at")
                }
            text = repr(payload).replace(order, "ORDER")
            rows.append((r.type, text.replace(f"member:{member}", "member:M")))
    return rows


async def _reward_entries(runtime: Runtime, member: int) -> list[tuple[str, str | None]]:
    """Each points reward's key, and the reference of the entry its log row names."""
    async with runtime.engine.connect() as conn:
        found = await conn.execute(
            select(engagement_rewards.c.key, entries.c.reference)
            .select_from(
                engagement_rewards.outerjoin(entries, entries.c.id == engagement_rewards.c.entry_id)
            )
            .where(engagement_rewards.c.member_id == member, engagement_rewards.c.kind == "points")
            .order_by(engagement_rewards.c.id)
        )
        return [(r.key, r.reference) for r in found]


async def test_the_rewards_under_the_purchase_lock_write_what_locking_for_each_writes(
    runtime: Runtime, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = await referred_pair(runtime, clock)
    # Member a: every reward's earn locks the account and reads the status itself, as before.
    with monkeypatch.context() as before:
        before.setattr(AccountLock, "renew", lambda lock, account: None)
        with counting(runtime) as locking_each:
            await _buy(runtime, a, "a-first")

    with counting(runtime) as under_one_lock:
        await _buy(runtime, b, "b-first")

    assert await _written(runtime, b, "b-first") == await _written(runtime, a, "a-first")
    # The team-spend and explorer tasks' points, the win-back, the referral's welcome.
    keys = [key.split(":")[0] for key, _ in await _reward_entries(runtime, b)]
    assert keys == ["task", "task", "winback", "referral"]
    for member in (a, b):  # every log row names the entry its key made
        assert all(key == reference for key, reference in await _reward_entries(runtime, member))

    def locks(statements: list[str]) -> int:
        return sum("FOR UPDATE" in s for s in statements)

    # The friend's account locked once, not once more per reward; the referrer's as before
    # (its referral check, then its earn).
    assert (locks(locking_each), locks(under_one_lock)) == (1 + 4 + 2, 1 + 2)
    balances = [(await ledger.get_balance(runtime, m)).total for m in (a, b)]
    assert balances[0] == balances[1] > 1000
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report.render()


async def test_a_lock_renewed_by_a_credit_serves_the_next_earn(runtime: Runtime) -> None:
    member = await _member(runtime, "m")
    async with unit_of_work(runtime.engine) as conn:
        rewards = Rewards.of(conn, runtime.clock, runtime.settings)
        _, lock = await rewards.lock_for_earn(member)
        with counting(runtime) as credits:
            for amount in (5, 7, 11):
                await rewards.ledger.earn(Earn(member, amount, "goodwill"), STAFF, lock=lock)
    assert len(credits) == 3 and not lock.used
    assert (await ledger.get_balance(runtime, member)).total == 23
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report.render()


async def test_a_lock_gone_stale_under_another_write_refuses_and_nothing_is_written(
    runtime: Runtime,
) -> None:
    member = await _member(runtime, "m")
    with pytest.raises(RuntimeError, match="changed under its lock"):
        async with unit_of_work(runtime.engine) as conn:
            rewards = Rewards.of(conn, runtime.clock, runtime.settings)
            _, lock = await rewards.lock_for_earn(member)
            await rewards.ledger.earn(Earn(member, 5, "locks itself"), STAFF)  # bypasses it
            await rewards.ledger.earn(Earn(member, 7, "stale"), STAFF, lock=lock)
    assert (await ledger.get_balance(runtime, member)).total == 0
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report.render()
