"""Settling an account: pending lots whose time came become available, due lots expire to
breakage. Every write settles its account first; the expiry sweep settles the rest in batches.
The account remembers when anything is next due (``next_due_at``), so settling costs nothing
before then."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.events.outbox import append_event, member_topic
from app.ledger.accounts import Account, member_statuses, programme_account
from app.ledger.allocation import Take
from app.ledger.journal import Note, post
from app.ledger.lots import OpenLot, change_lots, record_allocations
from app.ledger.models import Actor, EntryKind
from app.ledger.payloads import balance_payload, entry_payload
from app.ledger.tables import accounts, lots


@dataclass(frozen=True)
class Settlement:
    """What settling an account did: pending points activated, due lots expired."""

    member_id: int
    activated: int
    expired: int
    expired_lots: int


async def settle(conn: AsyncConnection, account: Account, now: datetime) -> Settlement | None:
    """Activate matured pending lots and expire due ones; None when nothing was due."""
    if account.next_due_at is None or account.next_due_at > now:
        return None
    activated = await _activate_matured_lots(conn, account, now) if account.pending else 0
    account.pending -= activated
    account.available += activated
    expired, expired_lots = await _expire_due_lots(conn, account, now)
    if activated:
        await append_event(
            conn,
            member_topic(account.member_id),
            "points.available",
            {
                "member_id": account.member_id,
                "points": activated,
                "balance": balance_payload(account.balance),
            },
        )
    account.next_due_at = await conn.scalar(
        select(
            func.least(
                func.min(lots.c.available_at).filter(lots.c.pending),
                func.min(lots.c.expires_at),
            )
        ).where(lots.c.account_id == account.id, lots.c.remaining > 0)
    )
    return Settlement(account.member_id, activated, expired, expired_lots)


async def lock_due_accounts(conn: AsyncConnection, now: datetime, limit: int) -> list[Account]:
    """Up to ``limit`` member accounts with something due (a lot to expire or to activate),
    earliest due first, locked — skipping those another transaction holds: a write, which
    settles the account itself, or another sweep."""
    rows = (
        await conn.execute(
            select(accounts)
            .where(accounts.c.kind == "member", accounts.c.next_due_at <= now)
            .order_by(accounts.c.next_due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if not rows:
        return []
    statuses = await member_statuses(conn, [row.member_id for row in rows])
    return [Account.of(row, statuses[row.member_id]) for row in rows]


async def _activate_matured_lots(conn: AsyncConnection, account: Account, now: datetime) -> int:
    """Pending lots whose time came become available; how many points did. (Skipped when
    the account has no pending points: ``pending`` is the sum of its pending lots.)"""
    matured = await conn.scalars(
        lots.update()
        .where(
            lots.c.account_id == account.id,
            lots.c.pending,
            lots.c.available_at <= now,
            lots.c.remaining > 0,
        )
        .values(pending=False)
        .returning(lots.c.remaining)
    )
    return sum(matured.all())


async def _expire_due_lots(
    conn: AsyncConnection, account: Account, now: datetime
) -> tuple[int, int]:
    """Move what is left of due lots to breakage; (points, lots) expired."""
    rows = await conn.execute(
        select(lots.c.id, lots.c.remaining, lots.c.pending, lots.c.expires_at)
        .where(
            lots.c.account_id == account.id,
            lots.c.remaining > 0,
            lots.c.expires_at <= now,
        )
        .order_by(lots.c.id)
    )
    due = [OpenLot(r.id, r.remaining, r.pending, r.expires_at) for r in rows]
    if not due:
        return 0, 0
    expired = sum(lot.remaining for lot in due)
    for lot in due:
        account.add_to_lot_bucket(lot.pending, -lot.remaining)
    takes = [Take(lot.id, lot.remaining) for lot in due]
    await change_lots(conn, takes, sign=-1)
    entry = await post(
        conn,
        now,
        account,
        EntryKind.EXPIRY,
        -expired,
        debit=account.id,
        credit=programme_account("breakage"),
        note=Note("points expired", Actor("system", "jobs")),
        details={"lots": [{"lot_id": t.source_id, "amount": t.amount} for t in takes]},
    )
    await record_allocations(conn, takes, entry_id=entry.id)
    await append_event(
        conn,
        member_topic(account.member_id),
        "points.expired",
        {"entry": entry_payload(entry), "balance": balance_payload(account.balance)},
    )
    return expired, len(due)
