"""Ledger use cases: each opens one unit of work, checks idempotency, and calls the ledger.

These are what the API layers call; they take plain values and return the ledger's models,
raising :class:`app.errors.DomainError` for a refused request (nothing is written then).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import retry_on_lost_connection, unit_of_work
from app.errors import DomainError
from app.ledger import queries
from app.ledger.commands import (
    Adjust,
    Command,
    CommitHold,
    Earn,
    PlaceHold,
    Reverse,
    Spend,
    VoidHold,
    request_of,
)
from app.ledger.idempotency import idempotent
from app.ledger.models import Actor, Balance, Entry, Hold, Lot
from app.ledger.onetrip import Credited, earn_in_one_trip, earns_in_one_trip
from app.ledger.pacing import Pace, Sleep
from app.ledger.service import Ledger, LedgerPolicy
from app.ledger.settlement import Settlement
from app.runtime import Runtime

Written = TypeVar("Written", Entry, Hold)
C = TypeVar("C", bound=Command)


def _ledger(rt: Runtime, conn: AsyncConnection) -> Ledger:
    return Ledger(conn, rt.clock, LedgerPolicy.from_settings(rt.settings))


@retry_on_lost_connection
async def _write(
    rt: Runtime,
    actor: Actor,
    idempotency_key: str,
    operation: str,
    command: C,
    write: Callable[[Ledger, C, Actor], Awaitable[Written]],
) -> Written:
    """One write in its own transaction, at most once per (caller, idempotency key): the key
    is checked against the command's request fields (:func:`request_of`)."""
    async with unit_of_work(rt.engine) as conn:
        ledger = _ledger(rt, conn)

        async def load(stored: dict[str, Any]) -> Any:
            if "hold_id" in stored:
                return await ledger.get_hold(int(stored["hold_id"]))
            return await ledger.get_entry(int(stored["entry_id"]))

        return await idempotent(
            conn,
            now=rt.clock.now(),
            caller=actor.principal,
            key=idempotency_key,
            operation=operation,
            request=request_of(command),
            run=lambda: write(ledger, command, actor),
            dump=lambda done: {"hold_id" if isinstance(done, Hold) else "entry_id": done.id},
            load=load,
        )


# The earn's common case in one statement (app/ledger/onetrip.py); a lost connection before it
# is sent is retried, one while it is out is in doubt (UNAVAILABLE, re-send with the key).
_earn_in_one_trip = retry_on_lost_connection(earn_in_one_trip)


async def earn_points(rt: Runtime, actor: Actor, earn: Earn, *, idempotency_key: str) -> Entry:
    policy = LedgerPolicy.from_settings(rt.settings)
    entry = await _earn_in_one_trip(rt, policy, actor, earn, idempotency_key, "earn")
    if entry is not None:
        return entry
    return await _write(rt, actor, idempotency_key, "earn", earn, Ledger.earn)


async def earn_points_batch(
    rt: Runtime, actor: Actor, earns: Sequence[tuple[Earn, str]]
) -> list[Credited | Entry | DomainError]:
    """Many earns, each with its idempotency key, each with its own outcome in their order: the
    batch's statements post the common case (:func:`earns_in_one_trip`); every other earn — a
    replay, a reused key, a refused input, an unknown or closed member, something due — takes
    the ledger's path alone, as ``earnPoints`` would, and answers as it would (its entry, or the
    :class:`DomainError` it was refused with). One earn's refusal never undoes another's."""
    policy = LedgerPolicy.from_settings(rt.settings)
    posted = await earns_in_one_trip(rt, policy, actor, earns, "earn")
    outcomes: list[Credited | Entry | DomainError] = []
    for (earn, key), outcome in zip(earns, posted, strict=True):
        if outcome is not None:
            outcomes.append(outcome)
            continue
        try:
            outcomes.append(await _write(rt, actor, key, "earn", earn, Ledger.earn))
        except DomainError as refusal:
            outcomes.append(refusal)
    return outcomes


async def spend_points(rt: Runtime, actor: Actor, spend: Spend, *, idempotency_key: str) -> Entry:
    return await _write(rt, actor, idempotency_key, "spend", spend, Ledger.spend)


async def hold_points(rt: Runtime, actor: Actor, place: PlaceHold, *, idempotency_key: str) -> Hold:
    return await _write(rt, actor, idempotency_key, "hold", place, Ledger.hold)


async def commit_hold(
    rt: Runtime, actor: Actor, commit: CommitHold, *, idempotency_key: str
) -> Entry:
    return await _write(rt, actor, idempotency_key, "commit_hold", commit, Ledger.commit_hold)


async def void_hold(rt: Runtime, actor: Actor, void: VoidHold, *, idempotency_key: str) -> Hold:
    return await _write(rt, actor, idempotency_key, "void_hold", void, Ledger.void_hold)


async def reverse_entry(
    rt: Runtime, actor: Actor, reverse: Reverse, *, idempotency_key: str
) -> Entry:
    return await _write(rt, actor, idempotency_key, "reverse", reverse, Ledger.reverse)


async def adjust_points(
    rt: Runtime, actor: Actor, adjust: Adjust, *, idempotency_key: str
) -> Entry:
    return await _write(rt, actor, idempotency_key, "adjust", adjust, Ledger.adjust)


async def void_expired_holds(rt: Runtime, *, limit: int = 500) -> int:
    """Void holds past their expiry, each in its own transaction (so two runs of the job never
    hold two members' locks at once); returns how many this run voided."""
    async with rt.engine.connect() as conn:
        due = await queries.expired_hold_ids(conn, rt.clock.now(), limit=limit)
    system = Actor("system", "jobs")
    voided = 0
    for hold_id in due:
        try:
            async with unit_of_work(rt.engine) as conn:
                hold = await _ledger(rt, conn).void_hold(
                    VoidHold(hold_id, "hold timed out"), system
                )
        except DomainError:
            continue  # committed or voided meanwhile
        await rt.members_written([hold.member_id])
        voided += 1
    return voided


@dataclass(frozen=True)
class SweepResult:
    accounts: int  # accounts settled
    activated: int  # pending points that became available
    expired: int  # points that expired (into the points bank)
    expired_lots: int
    batches: int


async def settle_due_accounts(
    rt: Runtime,
    *,
    batch: int = 100,
    max_batches: int | None = None,
    lots_per_second: int = 0,
    connections: int = 1,
    sleep: Sleep = asyncio.sleep,
) -> SweepResult:
    """The expiry sweep: settle every account with something due, up to ``batch`` accounts per
    transaction (each batch commits with its entries and events), at most ``lots_per_second``
    (0: as fast as the database goes; app/ledger/pacing.py: paced batches are smaller, a quarter
    of a second of the budget each, with a sleep after each), on ``connections`` connections at
    once (one transaction keeps one core busy at most: PostgreSQL's share of a lot and the
    sweep's own alternate on it; two overlap them and use a second core — the budget is shared).

    Safe on any number of workers at once: a batch locks its accounts with ``FOR UPDATE SKIP
    LOCKED``, so two sweeps never take the same account, and an account a write is holding is
    skipped — that write settles it itself (settle-on-write), under the same lock a spend takes,
    so the sweep never races a spend of the same lot. Late runs catch up: whatever is due now
    expires now. A connection stops when it finds fewer than a batch to take (nothing due, or the
    rest locked by another); the sweep ends when all have (or after ``max_batches``)."""
    pace = Pace(rt.clock, lots_per_second, batch, sleep)
    tally = _SweepTally()

    async def sweep_on_one_connection() -> None:
        while max_batches is None or tally.started < max_batches:
            tally.started += 1
            size = pace.next_batch()
            async with unit_of_work(rt.engine) as conn:
                done = await _ledger(rt, conn).settle_due_batch(size)
            await rt.members_written(settled.member_id for settled in done)
            tally.add(done)
            if len(done) < size:
                return
            await pace.settled(len(done), sum(max(settled.expired_lots, 1) for settled in done))

    try:
        async with asyncio.TaskGroup() as sweeps:
            for _ in range(connections):
                sweeps.create_task(sweep_on_one_connection())
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None  # the first failure, as one connection raises it
    return tally.result()


@dataclass
class _SweepTally:
    """What the sweep's connections have done so far (they share it: one event loop)."""

    started: int = 0  # batches begun, for ``max_batches``
    accounts: int = 0
    activated: int = 0
    expired: int = 0
    expired_lots: int = 0
    batches: int = 0  # batches that settled something

    def add(self, done: Sequence[Settlement]) -> None:
        for settled in done:
            self.accounts += 1
            self.activated += settled.activated
            self.expired += settled.expired
            self.expired_lots += settled.expired_lots
        if done:
            self.batches += 1

    def result(self) -> SweepResult:
        return SweepResult(
            self.accounts, self.activated, self.expired, self.expired_lots, self.batches
        )


@retry_on_lost_connection
async def get_balance(rt: Runtime, member_id: int) -> Balance:
    async with rt.read(member_id) as conn:
        return await queries.balance(conn, member_id, rt.clock.now())


@retry_on_lost_connection
async def get_balances(rt: Runtime, member_ids: list[int]) -> dict[int, Balance]:
    """Many balances at once (DataLoaders); unknown members are absent."""
    async with rt.read(*member_ids, one_statement=True) as conn:
        return await queries.balances_now(conn, member_ids, rt.clock.now())


@retry_on_lost_connection
async def get_entry(rt: Runtime, entry_id: int) -> Entry:
    async with rt.read() as conn:
        return await queries.get_entry(conn, entry_id)


@retry_on_lost_connection
async def get_hold(rt: Runtime, hold_id: int) -> Hold:
    async with rt.read() as conn:
        return await queries.get_hold(conn, hold_id)


@retry_on_lost_connection
async def list_history(
    rt: Runtime, member_id: int, *, first: int, before_id: int | None = None
) -> list[Entry]:
    """Newest first; ``before_id`` is the cursor (the last entry id of the previous page)."""
    async with rt.read(member_id) as conn:
        return await queries.history(conn, member_id, first=first, before_id=before_id)


@retry_on_lost_connection
async def list_lots(
    rt: Runtime, member_id: int, *, first: int, after_id: int | None = None
) -> list[Lot]:
    """Open lots (points left) in spending order; ``after_id`` is the cursor."""
    async with rt.read(member_id) as conn:
        return await queries.open_lots(conn, member_id, first=first, after_id=after_id)


@retry_on_lost_connection
async def list_holds(rt: Runtime, member_id: int, *, active_only: bool = True) -> list[Hold]:
    async with rt.read(member_id) as conn:
        return await queries.member_holds(conn, member_id, active_only=active_only)
