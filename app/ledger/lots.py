"""Lot mechanics: taking points from a member's lots, giving them back to the very lots they
came from, and making new lots. All of it runs under the member's account lock, and keeps the
in-memory account's buckets in step with the lots it changes where it says so."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, bindparam, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import unnest_rows
from app.errors import DomainError, ErrorCode
from app.ledger.accounts import Account
from app.ledger.allocation import Take, take_in_order, total
from app.ledger.queries import spending_order
from app.ledger.tables import allocations, lots


@dataclass(frozen=True)
class OpenLot:
    id: int
    remaining: int
    pending: bool
    expires_at: datetime | None


def _insufficient(wanted: int, available: int) -> DomainError:
    return DomainError(
        ErrorCode.INSUFFICIENT_POINTS,
        f"{wanted} points asked, {available} available",
        "amount",
    )


async def open_lots(
    conn: AsyncConnection, account_id: int, *, available_only: bool
) -> list[OpenLot]:
    """The account's lots with points left, in spending order."""
    query = select(lots.c.id, lots.c.remaining, lots.c.pending, lots.c.expires_at).where(
        lots.c.account_id == account_id, lots.c.remaining > 0
    )
    if available_only:
        query = query.where(~lots.c.pending)
    rows = await conn.execute(query.order_by(*spending_order()))
    return [OpenLot(r.id, r.remaining, r.pending, r.expires_at) for r in rows]


async def take_available(conn: AsyncConnection, account: Account, amount: int) -> list[Take]:
    """Take ``amount`` from the available lots, first to expire first, or refuse."""
    if account.available < amount:
        raise _insufficient(amount, account.available)
    takes = take_in_order(
        ((lot.id, lot.remaining) for lot in await open_lots(conn, account.id, available_only=True)),
        amount,
    )
    if total(takes) != amount:  # the lots disagree with the balance: never guess
        raise RuntimeError(f"account {account.id}: lots hold less than its balance")
    await change_lots(conn, takes, sign=-1)
    return takes


async def take_for_claw_back(
    conn: AsyncConnection, account: Account, credit_entry_id: int, amount: int
) -> list[Take]:
    """Take up to ``amount`` back for a reversed credit: the credit's own lot first, then
    available before pending, each by spending order (less when the lots hold less); the
    account's buckets follow."""
    candidates = await open_lots(conn, account.id, available_only=False)
    own = await conn.scalars(select(lots.c.id).where(lots.c.entry_id == credit_entry_id))
    own_ids = set(own.all())
    candidates.sort(key=lambda lot: (lot.id not in own_ids, lot.pending))
    takes = take_in_order(((lot.id, lot.remaining) for lot in candidates), amount)
    pending_of = {lot.id: lot.pending for lot in candidates}
    await change_lots(conn, takes, sign=-1)
    for take in takes:
        account.add_to_lot_bucket(pending_of[take.source_id], -take.amount)
    return takes


async def change_lots(conn: AsyncConnection, takes: list[Take], *, sign: int) -> None:
    if not takes:
        return
    await conn.execute(
        update(lots)
        .where(lots.c.id == bindparam("lot_id"))
        .values(remaining=lots.c.remaining + sign * bindparam("delta")),
        [{"lot_id": t.source_id, "delta": t.amount} for t in takes],
    )


async def record_allocations(
    conn: AsyncConnection,
    account: Account,
    takes: list[Take],
    *,
    entry_id: int | None = None,
    hold_id: int | None = None,
) -> None:
    """Which of ``account``'s lots a debit, a hold or an expiry took: what a void or a reversal
    gives back (one statement for any number of lots)."""
    if not takes:
        return
    rows = unnest_rows(
        lot_id=(BigInteger(), [take.source_id for take in takes]),
        amount=(BigInteger(), [take.amount for take in takes]),
    )
    await conn.execute(
        allocations.insert().from_select(
            ["member_id", "lot_id", "amount", "entry_id", "hold_id"],
            select(
                literal(account.member_id, BigInteger()),
                rows.c.lot_id,
                rows.c.amount,
                literal(entry_id, BigInteger()),
                literal(hold_id, BigInteger()),
            ),
        )
    )


async def give_back(conn: AsyncConnection, account: Account, owner: Any, amount: int) -> None:
    """Return ``amount`` to the lots an entry or a hold (``owner``, a condition on allocations)
    took, latest-expiring lot first."""
    rows = await conn.execute(
        select(
            allocations.c.id,
            allocations.c.lot_id,
            (allocations.c.amount - allocations.c.returned).label("open"),
            lots.c.expires_at,
        )
        .join(lots, lots.c.id == allocations.c.lot_id)
        .where(owner, allocations.c.returned < allocations.c.amount)
        .order_by(allocations.c.id.desc())
    )
    open_allocations = rows.all()
    lot_of = {r.id: r.lot_id for r in open_allocations}
    returns = take_in_order(((r.id, r.open) for r in open_allocations), amount)
    if total(returns) != amount:
        raise RuntimeError(f"account {account.id}: allocations hold less than {amount}")
    await conn.execute(
        update(allocations)
        .where(allocations.c.id == bindparam("allocation_id"))
        .values(returned=allocations.c.returned + bindparam("delta")),
        [{"allocation_id": r.source_id, "delta": r.amount} for r in returns],
    )
    await change_lots(conn, [Take(lot_of[r.source_id], r.amount) for r in returns], sign=1)
    for r in open_allocations:
        account.due_no_later_than(r.expires_at)


def new_lot(
    account: Account,
    entry_id: int,
    amount: int,
    *,
    pending: bool,
    available_at: datetime,
    expires_at: datetime | None,
    now: datetime,
) -> dict[str, Any]:
    account.due_no_later_than(available_at if pending else None)
    account.due_no_later_than(expires_at)
    return {
        "account_id": account.id,
        "member_id": account.member_id,
        "entry_id": entry_id,
        "amount": amount,
        "remaining": amount,
        "pending": pending,
        "available_at": available_at,
        "expires_at": expires_at,
        "created_at": now,
    }


async def add_lot(
    conn: AsyncConnection,
    account: Account,
    entry_id: int,
    amount: int,
    *,
    available_at: datetime,
    expires_at: datetime | None,
    now: datetime,
) -> None:
    """A credit's lot, pending until ``available_at`` when that is later than now."""
    pending = available_at > now
    await conn.execute(
        lots.insert().values(
            new_lot(
                account,
                entry_id,
                amount,
                pending=pending,
                available_at=available_at,
                expires_at=expires_at,
                now=now,
            )
        )
    )


async def copy_lots(
    conn: AsyncConnection,
    account: Account,
    entry_id: int,
    takes: list[Take],
    *,
    debt_paid: int,
    now: datetime,
) -> None:
    """One lot per source lot a gift took, with the source's expiry, available now; the points
    that paid ``debt_paid`` of the recipient's debt (first to expire first) make no lot."""
    sources = await conn.execute(
        select(lots.c.id, lots.c.expires_at).where(lots.c.id.in_([t.source_id for t in takes]))
    )
    expiry_of = {row.id: row.expires_at for row in sources}
    new_lots = []
    for take in takes:
        paid = min(debt_paid, take.amount)
        debt_paid -= paid
        if take.amount - paid:
            new_lots.append(
                new_lot(
                    account,
                    entry_id,
                    take.amount - paid,
                    pending=False,
                    available_at=now,
                    expires_at=expiry_of[take.source_id],
                    now=now,
                )
            )
    if new_lots:
        await conn.execute(lots.insert(), new_lots)
