"""A hypothesis state machine drives the ledger against a small in-memory model of its lots.

Random earn / spend / hold / commit / void / reverse / adjust sequences over a few members, with
time moving forward so that pending lots mature and lots expire by ``expires_at`` between and
during spending. After every step the database must agree with the model (each member's balance
as of now and its open lots, in spending order) and ``jifen audit`` must pass. Refusals must
agree too: the model predicts the error code of every request it expects to be refused.

The ledger is async and pytest-asyncio owns the session's event loop, so the machine runs in a
plain test function on a thread of its own, with its own event loop, engine and clock; each
example starts from empty tables (the conftest's reset statement).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, TypeVar
from uuid import uuid4
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import create_async_engine

from app.clock import FrozenClock, add_months
from app.config import NegativeBalancePolicy, Settings
from app.db import unit_of_work
from app.errors import DomainError, ErrorCode
from app.ledger import usecases as ledger
from app.ledger.audit import audit_ledger
from app.ledger.commands import Adjust, CommitHold, Earn, PlaceHold, Reverse, Spend, VoidHold
from app.ledger.models import Actor, Balance, Entry, HoldStatus
from app.ledger.service import Ledger, LedgerPolicy
from app.members import usecases as members
from app.runtime import Runtime
from tests.conftest import FROZEN_AT, reset_database_sql

T = TypeVar("T")
STAFF = Actor("staff:model", "test")
SHANGHAI = ZoneInfo("Asia/Shanghai")  # the programme timezone of the test settings
NEVER = datetime.max.replace(tzinfo=FROZEN_AT.tzinfo)

# ---------------------------------------------------------------------------------- the model


@dataclass
class MLot:
    seq: int  # creation order: the database's lot ids grow in the same order
    entry_id: int  # the credit that made it (how a database lot is matched to its model)
    amount: int
    remaining: int
    pending: bool
    available_at: datetime
    expires_at: datetime | None

    def spending_key(self) -> tuple[datetime, int]:
        return (self.expires_at or NEVER, self.seq)


@dataclass
class MAllocation:
    lot: MLot
    amount: int
    returned: int = 0


@dataclass
class MEntry:
    member: int
    kind: str  # credit | debit | reversal
    amount: int  # absolute
    reversed: int = 0
    lot: MLot | None = None  # a credit's own lot
    allocations: list[MAllocation] = field(default_factory=list)  # a debit's


@dataclass
class MHold:
    member: int
    amount: int
    expires_at: datetime
    allocations: list[MAllocation]
    status: HoldStatus = HoldStatus.ACTIVE


@dataclass
class MMember:
    id: int
    lots: list[MLot] = field(default_factory=list)
    debt: int = 0

    def open_lots(self) -> list[MLot]:
        return sorted((lot for lot in self.lots if lot.remaining > 0), key=MLot.spending_key)

    def available_lots(self) -> list[MLot]:
        return [lot for lot in self.open_lots() if not lot.pending]


def take(sources: list[tuple[Any, int]], amount: int) -> list[tuple[Any, int]]:
    """The model's own allocation: the first sources first, as far as they go."""
    takes = []
    for source, there in sources:
        if amount == 0:
            break
        portion = min(there, amount)
        if portion > 0:
            takes.append((source, portion))
            amount -= portion
    return takes


class Model:
    def __init__(self, policy: NegativeBalancePolicy, expiry_months: int | None) -> None:
        self.policy = policy
        self.expiry_months = expiry_months
        self.seen: Counter[str] = Counter()
        self.members: dict[int, MMember] = {}
        self.entries: dict[int, MEntry] = {}
        self.holds: dict[int, MHold] = {}
        self.next_seq = 0

    def settle(self, now: datetime) -> None:
        """Matured pending lots become available; lots past their expiry lose what is left."""
        for member in self.members.values():
            for lot in member.lots:
                if lot.pending and lot.available_at <= now:
                    lot.pending = False
                    self.seen["a pending lot matured"] += lot.remaining > 0
                if lot.expires_at is not None and lot.expires_at <= now and lot.remaining:
                    lot.remaining = 0
                    self.seen["a lot expired with points left"] += 1

    def balance(self, member_id: int) -> Balance:
        member = self.members[member_id]
        held = sum(
            h.amount
            for h in self.holds.values()
            if h.member == member_id and h.status is HoldStatus.ACTIVE
        )
        return Balance(
            available=sum(lot.remaining for lot in member.lots if not lot.pending),
            pending=sum(lot.remaining for lot in member.lots if lot.pending),
            held=held,
            debt=member.debt,
        )

    def credit(
        self,
        member_id: int,
        entry_id: int,
        amount: int,
        now: datetime,
        available_at: datetime | None,
        expires_at: datetime | None,
    ) -> None:
        member = self.members[member_id]
        available_at = max(available_at or now, now)
        if expires_at is None and self.expiry_months is not None:
            # Rolling: valid through the same business-local date N months on, to its end.
            local = add_months(now.astimezone(SHANGHAI), self.expiry_months)
            expires_at = datetime.combine(local.date() + timedelta(days=1), time(0), SHANGHAI)
        paid = min(member.debt, amount)
        member.debt -= paid
        lot = None
        if amount - paid:
            lot = MLot(
                self.next_seq,
                entry_id,
                amount - paid,
                amount - paid,
                available_at > now,
                available_at,
                expires_at,
            )
            self.next_seq += 1
            member.lots.append(lot)
        self.entries[entry_id] = MEntry(member_id, "credit", amount, lot=lot)

    def take_available(self, member_id: int, amount: int) -> list[MAllocation]:
        takes = take(
            [(lot, lot.remaining) for lot in self.members[member_id].available_lots()], amount
        )
        assert sum(t for _, t in takes) == amount
        for lot, portion in takes:
            lot.remaining -= portion
        return [MAllocation(lot, portion) for lot, portion in takes]

    @staticmethod
    def give_back(allocations: list[MAllocation], amount: int) -> None:
        """Refill the lots, the latest allocation first."""
        open_ = [(a, a.amount - a.returned) for a in reversed(allocations)]
        returns = take(open_, amount)
        assert sum(r for _, r in returns) == amount
        for allocation, portion in returns:
            allocation.returned += portion
            allocation.lot.remaining += portion

    def claw_back(self, member_id: int, original: MEntry, amount: int) -> int:
        """Returns what the reversal entry takes from the member (its amount, negated)."""
        member = self.members[member_id]
        candidates = sorted(
            member.open_lots(), key=lambda lot: (lot is not original.lot, lot.pending)
        )
        takes = take([(lot, lot.remaining) for lot in candidates], amount)
        for lot, portion in takes:
            lot.remaining -= portion
        shortfall = amount - sum(t for _, t in takes)
        if shortfall and self.policy is NegativeBalancePolicy.ALLOW_NEGATIVE:
            member.debt += shortfall
            return amount
        return amount - shortfall


# ------------------------------------------------------------------------------ the machine


def _run_in_thread(fn: Any) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(fn).result()


class LedgerMachine(RuleBasedStateMachine):
    """Built once per example; shares one loop, engine and clock per test run (``Env``)."""

    env: Env  # set by the test before running

    def __init__(self) -> None:
        super().__init__()
        self.clock = self.env.clock
        self.clock.set(FROZEN_AT)
        self.run(self.env.reset())
        self.model = Model(NegativeBalancePolicy.ALLOW_NEGATIVE, None)
        self.rt = self.env.runtime

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.env.loop.run_until_complete(coro)

    def attempt(self, coro: Coroutine[Any, Any, T], expected: ErrorCode | None) -> T | None:
        """Run a request the model expects to succeed (``expected`` None) or be refused."""
        self.env.seen[f"{getattr(coro, '__name__', '?')}: {expected or 'done'}"] += 1
        try:
            result = self.run(coro)
        except DomainError as error:
            assert error.code is expected, f"refused with {error.code}, model expected {expected}"
            return None
        assert expected is None, f"the model expected {expected}, the ledger accepted"
        return result

    @property
    def now(self) -> datetime:
        return self.clock.now()

    # --------------------------------------------------------------------------- set-up

    @initialize(
        count=st.integers(min_value=2, max_value=3),
        policy=st.sampled_from(NegativeBalancePolicy),
        expiry_months=st.sampled_from([None, 1, 12]),
    )
    def setup(self, count: int, policy: NegativeBalancePolicy, expiry_months: int | None) -> None:
        self.model = Model(policy, expiry_months)
        self.model.seen = self.env.seen
        self.rt.settings = self.env.settings.model_copy(
            update={"negative_balance_policy": policy, "default_expiry_months": expiry_months}
        )
        for i in range(count):
            registration = self.run(
                members.register_member(self.rt, channel="model", external_ref=f"m{i}")
            )
            self.model.members[registration.member.id] = MMember(registration.member.id)

    def member(self, data: st.DataObject) -> int:
        return data.draw(st.sampled_from(sorted(self.model.members)), label="member")

    # --------------------------------------------------------------------------- rules

    @rule(
        data=st.data(),
        amount=st.integers(min_value=1, max_value=1000),
        available_in=st.one_of(st.none(), st.integers(min_value=1, max_value=96)),
        expires_in=st.one_of(st.none(), st.integers(min_value=1, max_value=10)),
    )
    def earn(
        self, data: st.DataObject, amount: int, available_in: int | None, expires_in: int | None
    ) -> None:
        """Earn, maybe pending for some hours, maybe expiring in a few days."""
        member_id = self.member(data)
        self.model.settle(self.now)
        available_at = self.now + timedelta(hours=available_in) if available_in else None
        expires_at = self.now + timedelta(days=expires_in) if expires_in else None
        expected = None
        if expires_at is not None and expires_at <= (available_at or self.now):
            expected = ErrorCode.INVALID_INPUT
        entry = self.attempt(
            ledger.earn_points(
                self.rt,
                STAFF,
                Earn(
                    member_id=member_id,
                    amount=amount,
                    reason="model earn",
                    available_at=available_at,
                    expires_at=expires_at,
                ),
                idempotency_key=uuid4().hex,
            ),
            expected,
        )
        if entry is not None:
            assert entry.amount == amount
            self.model.credit(member_id, entry.id, amount, self.now, available_at, expires_at)

    def _debit(self, member_id: int, amount: int, entry: Entry | None) -> None:
        if entry is not None:
            assert entry.amount == -amount
            allocations = self.model.take_available(member_id, amount)
            self.env.seen[f"debit over {min(len(allocations), 3)} lot(s)"] += 1
            self.model.entries[entry.id] = MEntry(
                member_id, "debit", amount, allocations=allocations
            )

    def _expect_available(self, member_id: int, amount: int) -> ErrorCode | None:
        self.model.settle(self.now)
        if self.model.balance(member_id).available < amount:
            return ErrorCode.INSUFFICIENT_POINTS
        return None

    def _debit_amount(self, data: st.DataObject, member_id: int) -> int:
        """Mostly within what is available now, sometimes a little more."""
        self.model.settle(self.now)
        available = self.model.balance(member_id).available
        return data.draw(st.integers(1, available + 5), label="amount")

    @rule(data=st.data())
    def spend(self, data: st.DataObject) -> None:
        member_id = self.member(data)
        amount = self._debit_amount(data, member_id)
        expected = self._expect_available(member_id, amount)
        entry = self.attempt(
            ledger.spend_points(
                self.rt,
                STAFF,
                Spend(member_id=member_id, amount=amount, reason="model spend"),
                idempotency_key=uuid4().hex,
            ),
            expected,
        )
        self._debit(member_id, amount, entry)

    def _open_credits(self) -> list[int]:
        return sorted(
            entry_id
            for entry_id, entry in self.model.entries.items()
            if entry.kind == "credit" and entry.amount > entry.reversed
        )

    @precondition(lambda self: self._open_credits())
    @rule(data=st.data(), whole=st.booleans())
    def refund_after_spending(self, data: st.DataObject, whole: bool) -> None:
        """The points of a credit are spent, then it is reversed: debt or write-off."""
        entry_id = data.draw(st.sampled_from(self._open_credits()), label="credit")
        original = self.model.entries[entry_id]
        self.model.settle(self.now)
        available = self.model.balance(original.member).available
        if available:
            entry = self.attempt(
                ledger.spend_points(
                    self.rt,
                    STAFF,
                    Spend(
                        member_id=original.member,
                        amount=available,
                        reason="model spend before refund",
                    ),
                    idempotency_key=uuid4().hex,
                ),
                None,
            )
            self._debit(original.member, available, entry)
        left = original.amount - original.reversed
        self._reverse(entry_id, None if whole else data.draw(st.integers(1, left)))

    @rule(data=st.data(), up=st.booleans())
    def adjust(self, data: st.DataObject, up: bool) -> None:
        member_id = self.member(data)
        if up:
            amount = data.draw(st.integers(1, 300), label="amount")
        else:
            amount = -self._debit_amount(data, member_id)
        expected = self._expect_available(member_id, -amount) if amount < 0 else None
        entry = self.attempt(
            ledger.adjust_points(
                self.rt,
                STAFF,
                Adjust(member_id=member_id, amount=amount, reason="model adjustment"),
                idempotency_key=uuid4().hex,
            ),
            expected,
        )
        if entry is None:
            return
        if amount > 0:
            assert entry.amount == amount
            self.model.credit(member_id, entry.id, amount, self.now, None, None)
        else:
            self._debit(member_id, -amount, entry)

    @rule(data=st.data(), expires_in=st.integers(min_value=1, max_value=96))
    def hold(self, data: st.DataObject, expires_in: int) -> None:
        member_id = self.member(data)
        amount = self._debit_amount(data, member_id)
        expected = self._expect_available(member_id, amount)
        expires_at = self.now + timedelta(hours=expires_in)
        hold = self.attempt(
            ledger.hold_points(
                self.rt,
                STAFF,
                PlaceHold(
                    member_id=member_id, amount=amount, reason="model hold", expires_at=expires_at
                ),
                idempotency_key=uuid4().hex,
            ),
            expected,
        )
        if hold is not None:
            assert (hold.amount, hold.status, hold.expires_at) == (
                amount,
                HoldStatus.ACTIVE,
                expires_at,
            )
            allocations = self.model.take_available(member_id, amount)
            self.model.holds[hold.id] = MHold(member_id, amount, expires_at, allocations)

    def _pick_hold(self, data: st.DataObject) -> tuple[int, MHold]:
        hold_id = data.draw(st.sampled_from(sorted(self.model.holds)), label="hold")
        return hold_id, self.model.holds[hold_id]

    @precondition(lambda self: self.model.holds)
    @rule(data=st.data())
    def commit(self, data: st.DataObject) -> None:
        hold_id, hold = self._pick_hold(data)
        self.model.settle(self.now)
        expected = None
        if hold.status is not HoldStatus.ACTIVE or hold.expires_at <= self.now:
            expected = ErrorCode.HOLD_NOT_ACTIVE
        entry = self.attempt(
            ledger.commit_hold(
                self.rt, STAFF, CommitHold(hold_id=hold_id), idempotency_key=uuid4().hex
            ),
            expected,
        )
        if entry is not None:
            assert (entry.amount, entry.hold_id) == (-hold.amount, hold_id)
            hold.status = HoldStatus.COMMITTED
            self.model.entries[entry.id] = MEntry(
                hold.member, "debit", hold.amount, allocations=hold.allocations
            )

    @precondition(lambda self: self.model.holds)
    @rule(data=st.data())
    def void(self, data: st.DataObject) -> None:
        hold_id, hold = self._pick_hold(data)
        expected = None if hold.status is HoldStatus.ACTIVE else ErrorCode.HOLD_NOT_ACTIVE
        voided = self.attempt(
            ledger.void_hold(
                self.rt,
                STAFF,
                VoidHold(hold_id=hold_id, reason="model void"),
                idempotency_key=uuid4().hex,
            ),
            expected,
        )
        if voided is not None:
            assert voided.status is HoldStatus.VOIDED
            self._void_in_model(hold)

    def _void_in_model(self, hold: MHold) -> None:
        self.model.give_back(hold.allocations, hold.amount)
        hold.status = HoldStatus.VOIDED
        self.model.settle(self.now)  # returned into a lot that expired meanwhile: gone again

    @precondition(lambda self: self.model.entries)
    @rule(data=st.data(), whole=st.booleans())
    def reverse(self, data: st.DataObject, whole: bool) -> None:
        """Any entry, in whole or in part (sometimes a little more than is left)."""
        entry_id = data.draw(st.sampled_from(sorted(self.model.entries)), label="entry")
        original = self.model.entries[entry_id]
        left = original.amount - original.reversed
        partial = None if whole else data.draw(st.integers(1, max(left, 1) + 2), label="amount")
        self._reverse(entry_id, partial)

    def _debits_to_split(self) -> list[int]:
        return sorted(
            entry_id
            for entry_id, entry in self.model.entries.items()
            if entry.kind == "debit" and entry.amount - entry.reversed > 1
        )

    @precondition(lambda self: self._debits_to_split())
    @rule(data=st.data())
    def reverse_part_of_a_debit(self, data: st.DataObject) -> None:
        """Give back part of a debit: the latest allocation is refilled first."""
        entry_id = data.draw(st.sampled_from(self._debits_to_split()), label="debit")
        original = self.model.entries[entry_id]
        left = original.amount - original.reversed
        self._reverse(entry_id, data.draw(st.integers(1, left - 1), label="amount"))

    def _reverse(self, entry_id: int, partial: int | None) -> None:
        original = self.model.entries[entry_id]
        self.model.settle(self.now)
        left = original.amount - original.reversed
        amount = left if partial is None else partial
        expected = None
        if original.kind == "reversal" or original.amount == 0:
            expected = ErrorCode.NOT_REVERSIBLE
        elif left == 0:
            expected = ErrorCode.ALREADY_REVERSED
        elif amount > left:
            expected = ErrorCode.INVALID_INPUT
        entry = self.attempt(
            ledger.reverse_entry(
                self.rt,
                STAFF,
                Reverse(entry_id=entry_id, amount=partial, reason="model reversal"),
                idempotency_key=uuid4().hex,
            ),
            expected,
        )
        if entry is None:
            return
        assert entry.reverses_entry_id == entry_id
        original.reversed += amount
        if original.kind == "credit":
            clawed = self.model.claw_back(original.member, original, amount)
            self.env.seen[f"claw-back: {', '.join(entry.details) or 'from lots'}"] += 1
            assert entry.amount == -clawed, (entry.amount, clawed, entry.details)
            self.model.entries[entry.id] = MEntry(original.member, "reversal", clawed)
        else:
            if len(original.allocations) > 1 and amount < left:
                self.env.seen["partial reversal of a debit over several lots"] += 1
            self.model.give_back(original.allocations, amount)
            assert entry.amount == amount
            self.model.entries[entry.id] = MEntry(original.member, "reversal", amount)
        self.model.settle(self.now)

    @rule(hours=st.integers(min_value=1, max_value=96))
    def advance(self, hours: int) -> None:
        self.env.seen["advance"] += 1
        self.clock.advance(timedelta(hours=hours))
        self.model.settle(self.now)

    @rule()
    def jobs(self) -> None:
        """The background jobs: time out the holds past their expiry, settle every member."""

        async def run_jobs() -> int:
            voided = await ledger.void_expired_holds(self.rt)
            async with unit_of_work(self.rt.engine) as conn:
                ledger_ = Ledger(conn, self.clock, LedgerPolicy.from_settings(self.rt.settings))
                for member_id in sorted(self.model.members):
                    await ledger_.settle_member(member_id)
                return voided

        voided = self.run(run_jobs())
        due = [
            hold
            for hold in self.model.holds.values()
            if hold.status is HoldStatus.ACTIVE and hold.expires_at <= self.now
        ]
        assert voided == len(due)
        for hold in due:
            self._void_in_model(hold)
        self.model.settle(self.now)

    # --------------------------------------------------------------------------- checks

    @invariant()
    def database_agrees_with_the_model(self) -> None:
        self.model.settle(self.now)
        now = self.now
        for member_id, member in self.model.members.items():
            balance = self.run(ledger.get_balance(self.rt, member_id))
            assert balance == self.model.balance(member_id), f"member {member_id} balance"
            # The open lots as of now (a lot past its expiry waits for the next write to sweep
            # it, a matured one to be marked available), in spending order.
            db_lots = [
                (
                    lot.entry_id,
                    lot.remaining,
                    lot.pending and lot.available_at > now,
                    lot.available_at,
                    lot.expires_at,
                )
                for lot in self.run(ledger.list_lots(self.rt, member_id, first=1000))
                if lot.expires_at is None or lot.expires_at > now
            ]
            model_lots = [
                (lot.entry_id, lot.remaining, lot.pending, lot.available_at, lot.expires_at)
                for lot in member.open_lots()
            ]
            assert db_lots == model_lots, f"member {member_id} lots"

    @invariant()
    def audit_passes(self) -> None:
        report = self.run(audit_ledger(self.rt.engine, self.now, self.model.policy))
        assert report.ok, report.render()


@dataclass
class Env:
    loop: asyncio.AbstractEventLoop
    settings: Settings
    runtime: Runtime
    clock: FrozenClock
    seen: Counter[str] = field(default_factory=Counter)  # what the runs did, printed at the end

    async def reset(self) -> None:
        async with self.runtime.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            await raw.driver_connection.execute(reset_database_sql())  # type: ignore[union-attr]


# About 30 s on a laptop-class machine; a failure shrinks to a short readable program.
MACHINE_SETTINGS = hypothesis_settings(
    max_examples=40,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_the_ledger_agrees_with_its_model(settings: Settings) -> None:
    """Run with ``-s`` to see how often each request was accepted or refused."""
    env_seen: Counter[str] = Counter()

    def run_machine() -> None:
        loop = asyncio.new_event_loop()
        try:
            # One connection at a time is all the machine needs; no pre-ping, it is local.
            engine = create_async_engine(settings.database_url or "", pool_size=2)
            redis = Redis.from_url(settings.redis_url or "")
            clock = FrozenClock(FROZEN_AT)
            runtime = Runtime(settings=settings, engine=engine, redis=redis, clock=clock)
            LedgerMachine.env = Env(loop, settings, runtime, clock, env_seen)
            try:
                run_state_machine_as_test(LedgerMachine, settings=MACHINE_SETTINGS)
            finally:
                loop.run_until_complete(redis.aclose())
                loop.run_until_complete(engine.dispose())
        finally:
            loop.close()

    _run_in_thread(run_machine)
    print("\n".join(f"{count:6}  {what}" for what, count in sorted(env_seen.items())))
