"""The audit catches corruption: each kind of damage, written straight into the tables with SQL,
fails the check that guards against it, and ``render()`` names that check.

Some damage is stopped by a CHECK or foreign-key constraint before the audit could ever see it;
those tests drop the constraint for the test and put it back afterwards (the audit is the second
line of defence: it must still notice if a constraint were ever missing).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.clock import FrozenClock
from app.config import NegativeBalancePolicy, Settings
from app.ledger import usecases as ledger
from app.ledger.audit import CHECKS, DOMAIN_CHECKS, AuditReport, audit_ledger
from app.ledger.commands import Earn, PlaceHold, Reverse, Spend, VoidHold
from app.ledger.models import Actor
from app.members import usecases as members
from app.runtime import Runtime
from tests.conftest import reset_database_sql

STAFF = Actor("staff:auditor", "test")

ZERO_SUM = "the sum over all accounts is zero"
DANGLING_ACCOUNT = "every transfer names its member's account or a programme account"
SHARED_ID = "no id names both a member account and a programme account"
BALANCE_VS_TRANSFERS = "a member's balance equals the sum of its transfers"
BALANCE_VS_LOTS = "a member's available and pending points equal its lots' remaining"
HELD_VS_HOLDS = "a member's held points equal its active holds"
HOLD_VS_ALLOCATIONS = "an active hold's allocations cover exactly its amount"
LOT_VS_ALLOCATIONS = "a lot's remaining is its amount less what was taken from it"
LOT_BOUNDS = "no lot is below zero or above its amount"
NO_NEGATIVE_BALANCE = "no member balance is below zero"
ENTRY_VS_TRANSFER = "an entry's amount is what its transfer moved for the member"
OVER_REVERSED = "no entry is reversed by more than its amount"
TRANSFER_MEMBER = "a transfer's member is its entry's"
PROGRAMME_SIDES = "a programme transfer is between two programme accounts"
ALLOCATION_MEMBER = "an allocation's member is its lot's, entry's or hold's"
NO_DEBT = "no member owes points (negative balances are off)"
TAKEN_AFTER_EXPIRY = "no point was taken from a lot after it expired"
EXPIRED_EARLY = "no lot expired before it was due"
CLEARING = "a clearing account (gifts) nets to zero"
REWARD_VS_EARN = "each engagement points reward is its ledger earn"  # tests/engagement


def test_the_names_above_are_the_audits_checks() -> None:
    assert set(CHECKS) == {
        ZERO_SUM,
        DANGLING_ACCOUNT,
        SHARED_ID,
        BALANCE_VS_TRANSFERS,
        BALANCE_VS_LOTS,
        HELD_VS_HOLDS,
        HOLD_VS_ALLOCATIONS,
        LOT_VS_ALLOCATIONS,
        LOT_BOUNDS,
        NO_NEGATIVE_BALANCE,
        ENTRY_VS_TRANSFER,
        OVER_REVERSED,
        TRANSFER_MEMBER,
        PROGRAMME_SIDES,
        ALLOCATION_MEMBER,
        TAKEN_AFTER_EXPIRY,
        EXPIRED_EARLY,
        CLEARING,
        REWARD_VS_EARN,
    }


@dataclass(frozen=True)
class Activity:
    """What the ledger looks like after some ordinary use (ids to aim the damage at)."""

    alice: int
    bob: int
    alice_account: int
    earn_long: int  # alice: 100 points, 12-month lot
    earn_short: int  # alice: 50 points expiring in 5 days
    spend: int  # alice: 70 points (50 from the short lot, 20 from the long one)
    hold: int  # alice: 30 points held from the long lot
    earn_bob: int  # bob: 40 points
    long_lot: int
    short_lot: int


def key() -> str:
    return uuid4().hex


@pytest.fixture
async def activity(runtime: Runtime, clock: FrozenClock) -> Activity:
    rt = runtime
    alice = (await members.register_member(rt, channel="t", external_ref="alice")).member.id
    bob = (await members.register_member(rt, channel="t", external_ref="bob")).member.id

    async def earn(member_id: int, amount: int, **kwargs: Any) -> int:
        entry = await ledger.earn_points(
            rt, STAFF, Earn(member_id, amount, "r", **kwargs), idempotency_key=key()
        )
        return entry.id

    earn_long = await earn(alice, 100)
    earn_short = await earn(alice, 50, expires_at=clock.now() + timedelta(days=5))
    spend = await ledger.spend_points(
        rt, STAFF, Spend(member_id=alice, amount=70, reason="r"), idempotency_key=key()
    )
    hold = await ledger.hold_points(
        rt, STAFF, PlaceHold(member_id=alice, amount=30, reason="r"), idempotency_key=key()
    )
    earn_bob = await earn(bob, 40)
    lots = {lot.entry_id: lot.id for lot in await ledger.list_lots(rt, alice, first=10)}
    async with rt.engine.connect() as conn:
        short_lot = await conn.scalar(
            text("SELECT id FROM lots WHERE entry_id = :e"), {"e": earn_short}
        )
        alice_account = await conn.scalar(
            text("SELECT id FROM accounts WHERE member_id = :m"), {"m": alice}
        )
    done = Activity(
        alice=alice,
        bob=bob,
        alice_account=alice_account,
        earn_long=earn_long,
        earn_short=earn_short,
        spend=spend.id,
        hold=hold.id,
        earn_bob=earn_bob,
        long_lot=lots[earn_long],
        short_lot=short_lot,
    )
    report = await audit_ledger(rt.engine, clock.now())
    assert report.ok, report.render()
    return done


async def corrupt(engine: AsyncEngine, sql: str, **params: Any) -> None:
    async with engine.begin() as conn:
        result = await conn.execute(text(sql), params)
        assert result.rowcount, f"the corruption changed nothing: {sql}"


def failed(report: AuditReport) -> set[str]:
    return {check.name for check in report.checks if not check.ok}


def assert_reported(report: AuditReport, names: set[str]) -> None:
    """The report fails exactly ``names`` and its rendering names each of them."""
    assert not report.ok
    assert failed(report) == names, report.render()
    rendered = report.render()
    for name in names:
        assert f"[FAIL] {name}" in rendered
    assert rendered.splitlines()[-1] == f"ledger audit FAILED: {len(names)} check(s)"
    for check in report.checks:
        if check.ok:
            assert f"[ok  ] {check.name}" in rendered


async def test_a_clean_ledger_passes(runtime: Runtime, clock: FrozenClock, activity: Activity):
    report = await audit_ledger(runtime.engine, clock.now())
    assert report.ok and not report.notes
    rendered = report.render()
    assert "[FAIL]" not in rendered
    assert rendered.splitlines()[-1] == "ledger audit passed"
    assert len(rendered.splitlines()) == len(CHECKS) + len(DOMAIN_CHECKS) + 1


Damage = Callable[[AsyncEngine, Activity], Awaitable[None]]


async def _bump_lot(engine: AsyncEngine, a: Activity) -> None:
    await corrupt(engine, "UPDATE lots SET remaining = remaining + 5 WHERE id = :id", id=a.long_lot)


async def _bump_available(engine: AsyncEngine, a: Activity) -> None:
    await corrupt(
        engine, "UPDATE accounts SET available = available + 10 WHERE member_id = :m", m=a.alice
    )


async def _bump_pending(engine: AsyncEngine, a: Activity) -> None:
    await corrupt(
        engine, "UPDATE accounts SET pending = pending + 10 WHERE member_id = :m", m=a.bob
    )


async def _delete_transfer(engine: AsyncEngine, a: Activity) -> None:
    await corrupt(engine, "DELETE FROM transfers WHERE entry_id = :e", e=a.spend)


async def _change_transfer(engine: AsyncEngine, a: Activity) -> None:
    await corrupt(engine, "UPDATE transfers SET amount = amount + 1 WHERE entry_id = :e", e=a.spend)


async def _change_entry(engine: AsyncEngine, a: Activity) -> None:
    await corrupt(engine, "UPDATE entries SET amount = amount - 1 WHERE id = :e", e=a.spend)


async def _change_hold(engine: AsyncEngine, a: Activity) -> None:
    await corrupt(engine, "UPDATE holds SET amount = amount + 5 WHERE id = :h", h=a.hold)


async def _drop_held(engine: AsyncEngine, a: Activity) -> None:
    await corrupt(engine, "UPDATE accounts SET held = 0 WHERE member_id = :m", m=a.alice)


async def _unrecord_allocation(engine: AsyncEngine, a: Activity) -> None:
    # The spend's take from the long lot forgotten: the lot now looks short of 20 points.
    await corrupt(
        engine,
        "DELETE FROM allocations WHERE entry_id = :e AND lot_id = :l",
        e=a.spend,
        l=a.long_lot,
    )


async def _shift_hold_allocation(engine: AsyncEngine, a: Activity) -> None:
    # The hold claims to have returned 10 points it never gave back to its lot.
    await corrupt(engine, "UPDATE allocations SET returned = 10 WHERE hold_id = :h", h=a.hold)


async def _spend_after_expiry(engine: AsyncEngine, a: Activity) -> None:
    # The short lot "expired" the moment the spend took from it.
    await corrupt(
        engine,
        "UPDATE lots SET expires_at = (SELECT created_at FROM entries WHERE id = :e) WHERE id = :l",
        e=a.spend,
        l=a.short_lot,
    )


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (_bump_lot, {BALANCE_VS_LOTS, LOT_VS_ALLOCATIONS}),
        (_bump_available, {BALANCE_VS_TRANSFERS, BALANCE_VS_LOTS}),
        (_bump_pending, {BALANCE_VS_TRANSFERS, BALANCE_VS_LOTS}),
        (_delete_transfer, {BALANCE_VS_TRANSFERS, ENTRY_VS_TRANSFER}),
        (_change_transfer, {BALANCE_VS_TRANSFERS, ENTRY_VS_TRANSFER}),
        (_change_entry, {ENTRY_VS_TRANSFER}),
        (_change_hold, {HELD_VS_HOLDS, HOLD_VS_ALLOCATIONS}),
        (_drop_held, {BALANCE_VS_TRANSFERS, HELD_VS_HOLDS}),
        (_unrecord_allocation, {LOT_VS_ALLOCATIONS}),
        (_shift_hold_allocation, {HOLD_VS_ALLOCATIONS, LOT_VS_ALLOCATIONS}),
        (_spend_after_expiry, {TAKEN_AFTER_EXPIRY}),
    ],
    ids=lambda value: value.__name__.strip("_") if callable(value) else "",
)
async def test_corruption_fails_the_check_that_guards_it(
    runtime: Runtime, clock: FrozenClock, activity: Activity, damage: Damage, expected: set[str]
):
    await damage(runtime.engine, activity)
    assert_reported(await audit_ledger(runtime.engine, clock.now()), expected)


async def test_a_lot_expired_before_it_was_due(
    runtime: Runtime, clock: FrozenClock, activity: Activity
):
    soon = await ledger.earn_points(
        runtime,
        STAFF,
        Earn(
            member_id=activity.bob,
            amount=15,
            reason="r",
            expires_at=clock.now() + timedelta(days=1),
        ),
        idempotency_key=key(),
    )
    clock.advance(timedelta(days=2))
    assert (await ledger.settle_due_accounts(runtime)).expired == 15
    assert (await audit_ledger(runtime.engine, clock.now())).ok
    await corrupt(
        runtime.engine,
        "UPDATE lots SET expires_at = expires_at + interval '2 days' WHERE entry_id = :e",
        e=soon.id,
    )
    assert_reported(await audit_ledger(runtime.engine, clock.now()), {EXPIRED_EARLY})


async def test_the_report_shows_the_offending_rows(
    runtime: Runtime, clock: FrozenClock, activity: Activity
):
    await _bump_lot(runtime.engine, activity)
    report = await audit_ledger(runtime.engine, clock.now())
    (lot_check,) = [c for c in report.checks if c.name == LOT_VS_ALLOCATIONS]
    assert lot_check.violations == [
        {"lot_id": activity.long_lot, "amount": 100, "remaining": 55, "taken": 50}
    ]
    assert "(1 shown)" in report.render()
    assert str(lot_check.violations[0]) in report.render()


# ----------------------------------------------------- damage a constraint would normally stop


@pytest.fixture
async def drop_constraint(
    engine: AsyncEngine,
) -> AsyncIterator[Callable[[str, str], Awaitable[None]]]:
    """Drop a constraint for this test; afterwards empty the tables and put it back as it was."""
    dropped: list[tuple[str, str, str]] = []

    async def drop(table: str, name: str) -> None:
        async with engine.begin() as conn:
            definition = await conn.scalar(
                text("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = :n"),
                {"n": name},
            )
            assert definition, f"no constraint {name}"
            await conn.execute(text(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"'))
        dropped.append((table, name, definition))

    yield drop
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.execute(reset_database_sql())  # type: ignore[union-attr]
    async with engine.begin() as conn:
        for table, name, definition in dropped:
            await conn.execute(text(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'))


# A row given another member (bob) than the rows it moves: the foreign keys pairing its member
# with theirs (migration 0055) stop it, so they are lifted for the test.
ANOTHER_MEMBER = {
    "transfer": (
        ("transfers", ("fk_transfers_entry_id_entries",)),
        "entry_id",
        # Its member's account is then another member's too.
        {TRANSFER_MEMBER, DANGLING_ACCOUNT},
    ),
    "allocation": (
        ("allocations", ("fk_allocations_lot_id_lots", "fk_allocations_hold_id_holds")),
        "hold_id",
        {ALLOCATION_MEMBER},
    ),
}


@pytest.mark.parametrize("row", sorted(ANOTHER_MEMBER))
async def test_a_row_of_another_member(
    runtime: Runtime, clock: FrozenClock, activity: Activity, drop_constraint: Any, row: str
):
    (table, keys), owner, checks = ANOTHER_MEMBER[row]
    for key in keys:
        await drop_constraint(table, key)
    await corrupt(
        runtime.engine,
        f"UPDATE {table} SET member_id = :m WHERE {owner} = :o",
        m=activity.bob,
        o=activity.hold if owner == "hold_id" else activity.spend,
    )
    assert_reported(await audit_ledger(runtime.engine, clock.now()), checks)


async def test_a_lot_below_zero(
    runtime: Runtime, clock: FrozenClock, activity: Activity, drop_constraint: Any
):
    await drop_constraint("lots", "ck_lots_remaining")
    await corrupt(
        runtime.engine, "UPDATE lots SET remaining = -5 WHERE id = :id", id=activity.long_lot
    )
    report = await audit_ledger(runtime.engine, clock.now())
    assert_reported(report, {LOT_BOUNDS, BALANCE_VS_LOTS, LOT_VS_ALLOCATIONS})


async def test_a_member_balance_below_zero(
    runtime: Runtime, clock: FrozenClock, activity: Activity, drop_constraint: Any
):
    await drop_constraint("accounts", "ck_accounts_balances")
    # Moved from available to a negative pending: the total still matches the transfers.
    await corrupt(
        runtime.engine,
        "UPDATE accounts SET available = available + 5, pending = pending - 5 WHERE member_id = :m",
        m=activity.bob,
    )
    report = await audit_ledger(runtime.engine, clock.now())
    assert_reported(report, {NO_NEGATIVE_BALANCE, BALANCE_VS_LOTS})


async def test_an_entry_reversed_more_than_its_amount(
    runtime: Runtime, clock: FrozenClock, activity: Activity, drop_constraint: Any
):
    await drop_constraint("entries", "ck_entries_reversed")
    await corrupt(
        runtime.engine, "UPDATE entries SET reversed_amount = 41 WHERE id = :e", e=activity.earn_bob
    )
    report = await audit_ledger(runtime.engine, clock.now())
    assert_reported(report, {OVER_REVERSED})


@pytest.mark.parametrize("side", ["credit_account_id", "debit_account_id"])
async def test_points_moved_to_an_account_that_does_not_exist(
    runtime: Runtime, clock: FrozenClock, activity: Activity, side: str
):
    # Double entry in one row cannot unbalance by itself: only a side that is not an account can.
    # No foreign key stops this row (migration 0045): the audit is what notices it.
    await corrupt(
        runtime.engine,
        f"UPDATE transfers SET {side} = 999999 WHERE entry_id = :e",
        e=activity.spend,
    )
    report = await audit_ledger(runtime.engine, clock.now())
    expected = {DANGLING_ACCOUNT, ZERO_SUM}
    if side == "debit_account_id":  # the spend's debit side was the member's own account
        expected.add(BALANCE_VS_TRANSFERS)
    assert_reported(report, expected)
    assert "999999" in report.render()


async def test_points_moved_to_another_members_account_are_reported(
    runtime: Runtime, clock: FrozenClock, activity: Activity
):
    # A transfer is its member's (Citus shards it with the member): an account id of another
    # member's would be on another shard, and its points outside its own member's journal.
    await corrupt(
        runtime.engine,
        "UPDATE transfers SET credit_account_id = (SELECT id FROM accounts WHERE member_id = :b)"
        " WHERE entry_id = :e",
        b=activity.bob,
        e=activity.earn_long,
    )
    report = await audit_ledger(runtime.engine, clock.now())
    assert_reported(report, {DANGLING_ACCOUNT, BALANCE_VS_TRANSFERS, ENTRY_VS_TRANSFER})


async def test_an_id_naming_both_a_member_and_a_programme_account_is_reported(
    runtime: Runtime, clock: FrozenClock, activity: Activity
):
    # The two tables draw their ids from one sequence (migration 0059): an id written by hand
    # could name both, and a transfer naming it would count on both sides.
    await corrupt(
        runtime.engine,
        "INSERT INTO programme_accounts (id, kind, code) VALUES (:a, 'adjustment', 'twin')",
        a=activity.alice_account,
    )
    # Its transfers count twice in the sum: once for the member, once for the programme.
    assert_reported(await audit_ledger(runtime.engine, clock.now()), {SHARED_ID, ZERO_SUM})


TOUCHING_A_MEMBER = """
    INSERT INTO programme_transfers (debit_account_id, credit_account_id, amount, created_at)
    SELECT p.id, a.id, 5, now() FROM programme_accounts p, accounts a
    WHERE p.code = 'adjustment' LIMIT 1
"""


async def test_a_programme_transfer_touching_a_member_account_is_refused(
    runtime: Runtime, activity: Activity
):
    # A move with no entry is the programme's own (migration 0057): a member's account on
    # either side would change its balance with nothing in its journal. Its foreign keys name
    # programme accounts (0059).
    with pytest.raises(IntegrityError, match="fk_programme_transfers_credit_account_id"):
        await corrupt(runtime.engine, TOUCHING_A_MEMBER)


async def test_a_programme_transfer_touching_a_member_account_is_reported(
    runtime: Runtime,
    clock: FrozenClock,
    activity: Activity,
    drop_constraint: Callable[[str, str], Awaitable[None]],
):
    await drop_constraint(
        "programme_transfers", "fk_programme_transfers_credit_account_id_programme_accounts"
    )
    await corrupt(runtime.engine, TOUCHING_A_MEMBER)
    report = await audit_ledger(runtime.engine, clock.now())
    # (The points bank's matching check reads programme transfers between programme accounts:
    # this one is not among them.)
    assert_reported(report, {PROGRAMME_SIDES, BALANCE_VS_TRANSFERS})


async def test_an_account_is_never_deleted(runtime: Runtime, activity: Activity):
    # What keeps a transfer's accounts in place now that no foreign key does.
    with pytest.raises(DBAPIError, match="accounts are never deleted"):
        await corrupt(runtime.engine, "DELETE FROM accounts WHERE member_id = :m", m=activity.bob)
    with pytest.raises(DBAPIError, match="accounts are never deleted"):
        await corrupt(runtime.engine, "DELETE FROM programme_accounts WHERE code = 'issuance'")


# ------------------------------------------------------------------------- policy and notes


async def test_debt_is_a_note_or_a_failure_depending_on_the_policy(
    runtime: Runtime, clock: FrozenClock, activity: Activity
):
    # Bob spends his 40 points, then the credit is reversed: under ALLOW_NEGATIVE he owes 40.
    await ledger.spend_points(
        runtime, STAFF, Spend(member_id=activity.bob, amount=40, reason="r"), idempotency_key=key()
    )
    await ledger.reverse_entry(
        runtime, STAFF, Reverse(entry_id=activity.earn_bob, reason="refund"), idempotency_key=key()
    )
    allowed = await audit_ledger(runtime.engine, clock.now())
    assert allowed.ok
    assert "note: 1 member(s) owe points after a claw-back (policy allows it)" in allowed.render()

    strict = await audit_ledger(runtime.engine, clock.now(), NegativeBalancePolicy.TAKE_REMAINING)
    assert_reported(strict, {NO_DEBT})
    (debt_check,) = [c for c in strict.checks if c.name == NO_DEBT]
    assert debt_check.violations == [{"member_id": activity.bob, "debt": 40}]


async def test_points_past_expiry_are_a_note_not_a_failure(
    runtime: Runtime, clock: FrozenClock, activity: Activity
):
    clock.advance(timedelta(days=6))  # the short lot expired; no write has swept it yet
    report = await audit_ledger(runtime.engine, clock.now())
    # The short lot was spent entirely: nothing is past expiry with points left.
    assert report.ok and not report.notes
    await ledger.void_hold(
        runtime, STAFF, VoidHold(hold_id=activity.hold, reason="r"), idempotency_key=key()
    )
    await corrupt(
        runtime.engine,
        "UPDATE lots SET expires_at = :at WHERE id = :id",
        at=clock.now() - timedelta(hours=1),
        id=activity.long_lot,
    )
    report = await audit_ledger(runtime.engine, clock.now())
    assert report.ok
    assert "note: 80 points in 1 lot(s) are past expiry, not yet swept" in report.render()


# --------------------------------------------------------------------------- the command


async def _jifen_audit(settings: Settings) -> tuple[int, str]:
    env = {
        **os.environ,
        "JIFEN_DATABASE_URL": settings.database_url or "",
        "JIFEN_REDIS_URL": settings.redis_url or "",
        "JIFEN_LOG_JSON": "false",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from app.cli import main; main()",
        "audit",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def test_jifen_audit_exits_non_zero_with_a_readable_report(
    runtime: Runtime, settings: Settings, activity: Activity
):
    code, output = await _jifen_audit(settings)
    assert code == 0, output
    assert "ledger audit passed" in output

    await _bump_lot(runtime.engine, activity)
    code, output = await _jifen_audit(settings)
    assert code == 1, output
    assert f"[FAIL] {LOT_VS_ALLOCATIONS}" in output
    assert "ledger audit FAILED: 2 check(s)" in output
