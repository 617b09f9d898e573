"""The points bank (积分银行, docs/BANK.md): expiring points get a second life.

- Before they expire, a member may move the points that expire by a day (the expiry reminder
  names the day and the action) into a **donation** or into **lottery tickets**: one spend
  of exactly those points — the spend takes first-to-expire first, so it takes those lots.
- Points that do expire go into the programme account ``bank`` (the ledger's settle), never
  out of the books. Staff spend the pool for **charity matching** (bank → the charity's
  account) or **prizes** (bank → a member, an earn). The audit checks the pool: what expired
  into it less what was spent of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.clock import business_date, business_midnight
from app.db import unit_of_work
from app.errors import DomainError, ErrorCode, invalid, not_found
from app.events.outbox import append_event, member_topic
from app.ledger.accounts import lock_account
from app.ledger.commands import Earn, Spend
from app.ledger.idempotency import idempotent
from app.ledger.journal import programme_transfer
from app.ledger.models import Actor
from app.ledger.queries import (
    expired_into,
    programme_balance,
    spendable_lots,
    transfer_of_entry,
)
from app.ledger.service import Ledger, LedgerPolicy
from app.lifecycle.tables import bank_matches, bank_moves, bank_spends
from app.mall.donations import donate_in
from app.mall.lottery import get_pool, grant_draw_ticket
from app.mall.tables import charities
from app.runtime import Runtime

BANK = "bank"
MAX_CODE = 64


class MoveKind(StrEnum):
    DONATION = "donation"
    LOTTERY = "lottery"


class SpendKind(StrEnum):
    CHARITY_MATCH = "charity_match"
    PRIZE = "prize"


@dataclass(frozen=True)
class Move:
    id: int
    member_id: int
    kind: MoveKind
    expires_on: date
    points: int
    target: str
    tickets: int
    entry_id: int
    created_at: datetime


@dataclass(frozen=True)
class BankSpend:
    id: int
    kind: SpendKind
    points: int
    charity_code: str | None
    member_id: int | None
    transfer_id: int
    entry_id: int | None
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class Pool:
    balance: int  # points in the pool now
    expired_in: int  # every point that expired into it
    spent: int  # every point staff spent of it


def _move(row: Row[Any]) -> Move:
    m = row._mapping
    return Move(
        **{k: m[k] for k in Move.__dataclass_fields__ if k != "kind"}, kind=MoveKind(row.kind)
    )


def _spend(row: Row[Any], kind: SpendKind) -> BankSpend:
    """A prize's row (``bank_spends``) or a match's (``bank_matches``, whose transfer is a
    programme transfer and which names no member or entry)."""
    m: dict[str, Any] = {"charity_code": None, "member_id": None, "entry_id": None}
    m.update(row._mapping)
    m.setdefault("transfer_id", m.get("programme_transfer_id"))
    fields = (k for k in BankSpend.__dataclass_fields__ if k != "kind")
    return BankSpend(**{k: m[k] for k in fields}, kind=kind)


def _check_code(code: str, field: str) -> None:
    if not code.strip() or len(code) > MAX_CODE:
        raise invalid(f"{field} must be 1..{MAX_CODE} characters", field)


def reminder_actions(expires_on: date) -> list[dict[str, str]]:
    """What an expiry reminder offers to do with the points before they go: each a
    ``moveExpiringPoints`` call (``to``, ``validThrough``) and an app link carrying the same."""
    day = expires_on.isoformat()
    return [
        {
            "action": kind.value,
            "mutation": "moveExpiringPoints",
            "to": kind.name,
            "valid_through": day,
            "link": f"/bank/move?validThrough={day}&to={kind.value}",
        }
        for kind in MoveKind
    ]


def check_move_day(rt: Runtime, expires_on: date) -> None:
    """Only points about to expire move: a last valid day from today to the furthest reminder."""
    today = business_date(rt.clock.now(), rt.settings.timezone)
    horizon = max(rt.settings.expiry_reminder_days, default=30)
    if not today <= expires_on <= today + timedelta(days=horizon):
        raise invalid(
            f"validThrough must be a day from {today} to {today + timedelta(days=horizon)}: "
            "only points about to expire move to the bank's choices",
            "validThrough",
        )


async def _expiring_by(conn: AsyncConnection, rt: Runtime, member_id: int, day: date) -> int:
    """The member's spendable points whose last valid day is ``day`` or before (read under its
    account lock: exactly what a spend now takes first)."""
    end = business_midnight(day + timedelta(days=1), rt.settings.timezone)
    lots = await spendable_lots(conn, member_id, rt.clock.now())
    return sum(
        remaining for _, remaining, expires in lots if expires is not None and expires <= end
    )


async def move_expiring_points(
    rt: Runtime,
    actor: Actor,
    *,
    member_id: int,
    expires_on: date,
    kind: MoveKind,
    target: str,
    idempotency_key: str,
) -> Move:
    """Move the member's points that expire by ``expires_on`` into a donation to the charity
    ``target``, or into tickets of the lottery pool ``target`` (as many as they buy; the rest
    stays and expires). Idempotent per key."""
    _check_code(target, "charityCode" if kind is MoveKind.DONATION else "poolCode")
    check_move_day(rt, expires_on)
    request = {"member_id": member_id, "day": expires_on.isoformat(), "kind": kind, "to": target}
    async with unit_of_work(rt.engine) as conn:

        async def run() -> Move:
            await lock_account(conn, member_id)
            points = await _expiring_by(conn, rt, member_id, expires_on)
            if points == 0:
                raise DomainError(
                    ErrorCode.INSUFFICIENT_POINTS,
                    f"no points of member {member_id} expire by {expires_on}",
                    "validThrough",
                )
            if kind is MoveKind.DONATION:
                donation = await donate_in(conn, rt, actor, member_id, target, points)
                return await _record(
                    conn, rt, member_id, kind, expires_on, points, target, 0, donation.entry_id
                )
            return await _buy_tickets(conn, rt, actor, member_id, expires_on, points, target)

        async def load(stored: dict[str, Any]) -> Move:
            row = (
                await conn.execute(select(bank_moves).where(bank_moves.c.id == stored["move_id"]))
            ).one()
            return _move(row)

        return await idempotent(
            conn,
            now=rt.clock.now(),
            caller=actor.principal,
            key=idempotency_key,
            operation="bank.move",
            request=request,
            run=run,
            dump=lambda m: {"move_id": m.id},
            load=load,
        )


async def _buy_tickets(
    conn: AsyncConnection,
    rt: Runtime,
    actor: Actor,
    member_id: int,
    expires_on: date,
    points: int,
    pool_code: str,
) -> Move:
    pool = await get_pool(rt, pool_code)
    if not pool.active or pool.cost_points <= 0:
        raise invalid(f"pool {pool_code} sells no tickets for points", "poolCode")
    tickets = points // pool.cost_points
    if tickets == 0:
        raise DomainError(
            ErrorCode.INSUFFICIENT_POINTS,
            f"{points} expiring points buy no ticket of {pool.cost_points}",
            "validThrough",
        )
    spent = tickets * pool.cost_points
    ledger = Ledger(conn, rt.clock, LedgerPolicy.from_settings(rt.settings))
    entry = await ledger.spend(
        Spend(
            member_id=member_id,
            amount=spent,
            reason=f"expiring points into {tickets} tickets of {pool.name}",
            reference=f"bank:lottery:{pool_code}"[:128],
        ),
        actor,
    )
    move = await _record(
        conn, rt, member_id, MoveKind.LOTTERY, expires_on, spent, pool_code, tickets, entry.id
    )
    for number in range(tickets):
        await grant_draw_ticket(
            conn, member_id, pool_code, f"bank-move:{move.id}:{number}", at=rt.clock.now()
        )
    return move


async def _record(
    conn: AsyncConnection,
    rt: Runtime,
    member_id: int,
    kind: MoveKind,
    expires_on: date,
    points: int,
    target: str,
    tickets: int,
    entry_id: int,
) -> Move:
    row = (
        await conn.execute(
            bank_moves.insert()
            .values(
                member_id=member_id,
                kind=kind.value,
                expires_on=expires_on,
                points=points,
                target=target,
                tickets=tickets,
                entry_id=entry_id,
                created_at=rt.clock.now(),
            )
            .returning(*bank_moves.c)
        )
    ).one()
    move = _move(row)
    await append_event(
        conn,
        member_topic(member_id),
        "bank.moved",
        {
            "member_id": member_id,
            "move_id": move.id,
            "kind": kind.value,
            "points": points,
            "to": target,
            "tickets": tickets,
        },
    )
    return move


async def spend_pool(
    rt: Runtime,
    actor: Actor,
    *,
    kind: SpendKind,
    points: int,
    reason: str,
    idempotency_key: str,
    charity_code: str | None = None,
    member_id: int | None = None,
) -> BankSpend:
    """Staff spend ``points`` of the pool: matching for a charity, or a prize to a member."""
    if not 0 < points <= rt.settings.max_points_per_operation:
        raise invalid(f"points must be 1..{rt.settings.max_points_per_operation}", "points")
    if not reason.strip() or len(reason) > 500:
        raise invalid("a reason of 1 to 500 characters is required", "reason")
    if kind is SpendKind.CHARITY_MATCH and (charity_code is None or member_id is not None):
        raise invalid("charity matching names a charity and no member", "charityCode")
    if kind is SpendKind.PRIZE and (member_id is None or charity_code is not None):
        raise invalid("a prize names a member and no charity", "memberId")
    if charity_code is not None:
        _check_code(charity_code, "charityCode")
    request = {
        "kind": kind,
        "points": points,
        "reason": reason,
        "charity": charity_code,
        "member": member_id,
    }
    async with unit_of_work(rt.engine) as conn:

        async def run() -> BankSpend:
            # One spend of the pool at a time: the balance read below stays true until commit
            # (expiries only add to it).
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('points-bank'))"))
            left = await programme_balance(conn, BANK)
            if points > left:
                raise DomainError(
                    ErrorCode.INSUFFICIENT_POINTS, f"the bank holds {left} points", "points"
                )
            now = rt.clock.now()
            if charity_code is not None:
                return await _match_charity(conn, now, actor, charity_code, points, reason)
            assert member_id is not None
            ledger = Ledger(conn, rt.clock, LedgerPolicy.from_settings(rt.settings))
            entry = await ledger.earn(
                Earn(
                    member_id=member_id,
                    amount=points,
                    reason=reason,
                    reference="bank:prize",
                    counter_account=BANK,
                ),
                actor,
            )
            return await _stored(
                conn,
                bank_spends,
                kind,
                kind=kind.value,
                points=points,
                member_id=member_id,
                transfer_id=await transfer_of_entry(conn, entry.id),
                entry_id=entry.id,
                reason=reason,
                actor=actor.principal,
                created_at=now,
            )

        async def load(stored: dict[str, Any]) -> BankSpend:
            # The request's kind, which a replay repeats, says which table holds the spend.
            table = bank_matches if kind is SpendKind.CHARITY_MATCH else bank_spends
            row = (await conn.execute(select(table).where(table.c.id == stored["spend_id"]))).one()
            return _spend(row, kind)

        return await idempotent(
            conn,
            now=rt.clock.now(),
            caller=actor.principal,
            key=idempotency_key,
            operation="bank.spend",
            request=request,
            run=run,
            dump=lambda s: {"spend_id": s.id},
            load=load,
        )


async def _match_charity(
    conn: AsyncConnection, now: datetime, actor: Actor, code: str, points: int, reason: str
) -> BankSpend:
    """Match ``points`` of the pool to the charity ``code``: a programme transfer, no member."""
    if await conn.scalar(select(charities.c.id).where(charities.c.code == code)) is None:
        raise not_found("charity", code, "charityCode")
    moved = await programme_transfer(conn, now, debit=BANK, credit=f"charity:{code}", amount=points)
    return await _stored(
        conn,
        bank_matches,
        SpendKind.CHARITY_MATCH,
        points=points,
        charity_code=code,
        programme_transfer_id=moved,
        reason=reason,
        actor=actor.principal,
        created_at=now,
    )


async def _stored(
    conn: AsyncConnection,
    table: Table,
    spend_kind: SpendKind,
    **values: Any,
) -> BankSpend:
    """Insert a spend's row into ``table`` (prizes or matches) and read it back."""
    row = (await conn.execute(table.insert().values(**values).returning(*table.c))).one()
    return _spend(row, spend_kind)


async def pool(rt: Runtime) -> Pool:
    """The pool now: its balance, what expired into it, what was spent of it."""
    async with rt.read() as conn:
        balance = await programme_balance(conn, BANK)
        expired_in = await expired_into(conn, BANK)
        spent = 0
        for table in (bank_spends, bank_matches):
            spent += int(await conn.scalar(select(func.coalesce(func.sum(table.c.points), 0))) or 0)
    return Pool(balance, expired_in, spent)


async def list_moves(rt: Runtime, member_id: int) -> list[Move]:
    async with rt.read(member_id) as conn:
        rows = await conn.execute(
            select(bank_moves)
            .where(bank_moves.c.member_id == member_id)
            .order_by(bank_moves.c.id.desc())
        )
        return [_move(row) for row in rows]
