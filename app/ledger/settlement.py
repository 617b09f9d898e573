"""Settling accounts: pending lots whose time came become available, due lots expire into
the points bank (the programme account ``bank``, docs/BANK.md). Every write settles its account
first; the expiry sweep settles the rest in batches. The account remembers when anything is next
due (``next_due_at``), so settling costs nothing before then.

Settling is set-based: one statement per step for all the accounts settled together (a write
settles one, the sweep a whole batch), never statements per account or per lot — the sweep's
speed is the database's, and the API's latency around it is the cost of rows written, not of
round trips (docs/PERFORMANCE.md "Expiry sweep")."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, any_, bindparam, func, literal, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import after_commit
from app.events.outbox import append_events, member_topic
from app.ledger.accounts import Account, member_statuses
from app.ledger.journal import Note, count_postings
from app.ledger.models import Actor, Entry, EntryKind
from app.ledger.payloads import balance_payload, entry_payload
from app.ledger.queries import entry_of
from app.ledger.tables import accounts, lots

EXPIRED = Note("points expired", Actor("system", "jobs"))


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
    (settled,) = await settle_accounts(conn, [account], now)
    return settled


async def settle_accounts(
    conn: AsyncConnection, due: Sequence[Account], now: datetime
) -> list[Settlement]:
    """Settle locked accounts whose ``next_due_at`` has come, all at once: activate their
    matured pending lots, expire their due lots (one expiry entry, its transfer to the bank and
    a ``points.expired`` event per member, an allocation per lot), then a ``points.available``
    event per member whose points matured, and their next due moments. The in-memory accounts
    follow; saving them is the caller's."""
    by_id = {account.id: account for account in due}
    activated = await _activate_matured_lots(conn, [a.id for a in due if a.pending], now)
    for account_id, points in activated.items():
        by_id[account_id].pending -= points
        by_id[account_id].available += points
    expired = await _expire_due_lots(conn, due, now)
    events: list[tuple[str, str, dict[str, Any]]] = []
    for gone in expired:
        account = by_id[gone.account_id]
        account.pending -= gone.from_pending
        account.available -= -gone.entry.amount - gone.from_pending
        events.append(
            (
                member_topic(account.member_id),
                "points.expired",
                {"entry": entry_payload(gone.entry), "balance": balance_payload(account.balance)},
            )
        )
    events += [
        (
            member_topic(by_id[account_id].member_id),
            "points.available",
            {
                "member_id": by_id[account_id].member_id,
                "points": points,
                "balance": balance_payload(by_id[account_id].balance),
            },
        )
        for account_id, points in activated.items()
    ]
    await append_events(conn, events)
    next_due = await _next_due(conn, list(by_id))
    for account in due:
        account.next_due_at = next_due.get(account.id)
    expired_of = {gone.account_id: gone for gone in expired}
    return [
        Settlement(
            account.member_id,
            activated.get(account.id, 0),
            -expired_of[account.id].entry.amount if account.id in expired_of else 0,
            expired_of[account.id].lots if account.id in expired_of else 0,
        )
        for account in due
    ]


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


def _ids(account_ids: list[int]) -> Any:
    """Account ids as one array parameter (``= ANY(…)``): one statement shape for any number."""
    return any_(literal(account_ids, ARRAY(BigInteger())))


async def _activate_matured_lots(
    conn: AsyncConnection, account_ids: list[int], now: datetime
) -> dict[int, int]:
    """Pending lots whose time came become available; the points that did, per account.
    (Only accounts with pending points are asked: ``pending`` is the sum of pending lots.)"""
    if not account_ids:
        return {}
    matured = await conn.execute(
        lots.update()
        .where(
            lots.c.account_id == _ids(account_ids),
            lots.c.pending,
            lots.c.available_at <= now,
            lots.c.remaining > 0,
        )
        .values(pending=False)
        .returning(lots.c.account_id, lots.c.remaining)
    )
    points: dict[int, int] = defaultdict(int)
    for row in matured:
        points[row.account_id] += row.remaining
    return dict(points)


@dataclass(frozen=True)
class _Expired:
    """An account's expiry: its entry, the points that were pending, how many lots."""

    account_id: int
    entry: Entry
    from_pending: int
    lots: int


# The expiry of a whole batch in one statement, row work done where the rows are: the due lots
# of the accounts settled are emptied, and per member one expiry entry (its details list the
# lots), its transfer into the bank (the pool of expired points), and one allocation per lot are
# written. ``total`` is each account's posted balance before (the caller's, which may not be
# saved yet).
_EXPIRE = text(
    """
WITH settling AS (
    SELECT * FROM unnest(CAST(:account_ids AS bigint[]), CAST(:totals AS bigint[]))
        AS s(account_id, total)
), due AS (
    UPDATE lots SET remaining = 0
    FROM (SELECT l.id, l.remaining FROM lots l JOIN settling s ON l.account_id = s.account_id
          WHERE l.remaining > 0 AND l.expires_at <= :now) AS d
    WHERE lots.id = d.id
    RETURNING lots.id, lots.account_id, lots.member_id, d.remaining, lots.pending
), per_account AS (
    SELECT account_id, member_id, sum(remaining)::bigint AS points, count(*) AS lots,
           COALESCE(sum(remaining) FILTER (WHERE pending), 0)::bigint AS from_pending,
           jsonb_agg(jsonb_build_object('lot_id', id, 'amount', remaining) ORDER BY id) AS taken
    FROM due GROUP BY account_id, member_id
), posted AS (
    INSERT INTO entries (member_id, kind, amount, balance_after, reason, source, reference,
                         actor, created_by_kind, created_by_channel, details, created_at)
    SELECT p.member_id, :kind, -p.points, s.total - p.points, :reason, :source, :reference,
           :actor, :created_by_kind, :created_by_channel, jsonb_build_object('lots', p.taken),
           :now
    FROM per_account p JOIN settling s USING (account_id)
    ORDER BY p.member_id
    RETURNING *
), moved AS (
    INSERT INTO transfers (entry_id, debit_account_id, credit_account_id, amount, created_at)
    SELECT posted.id, p.account_id, (SELECT id FROM accounts WHERE code = 'bank'),
           p.points, :now
    FROM posted JOIN per_account p USING (member_id)
), allocated AS (
    INSERT INTO allocations (lot_id, amount, entry_id)
    SELECT due.id, due.remaining, posted.id FROM due JOIN posted USING (member_id)
)
SELECT posted.*, p.account_id, p.from_pending, p.lots
FROM posted JOIN per_account p USING (member_id)
"""
).bindparams(
    bindparam("account_ids", type_=ARRAY(BigInteger())),
    bindparam("totals", type_=ARRAY(BigInteger())),
    bindparam("now", type_=DateTime(timezone=True)),
)


async def _expire_due_lots(
    conn: AsyncConnection, due: Sequence[Account], now: datetime
) -> list[_Expired]:
    """Expire the accounts' due lots into the bank (:data:`_EXPIRE`); per account that had any,
    its expiry."""
    rows = await conn.execute(
        _EXPIRE,
        {
            "account_ids": [account.id for account in due],
            "totals": [account.balance.total for account in due],
            "now": now,
            "kind": EntryKind.EXPIRY.value,
            **EXPIRED.columns(),
        },
    )
    expired = [_Expired(row.account_id, entry_of(row), row.from_pending, row.lots) for row in rows]
    if expired:
        after_commit(lambda: count_postings(EntryKind.EXPIRY, [e.entry.amount for e in expired]))
    return expired


async def _next_due(conn: AsyncConnection, account_ids: list[int]) -> dict[int, datetime]:
    """When each account next has a lot to activate or expire (absent: nothing ever)."""
    rows = await conn.execute(
        select(
            lots.c.account_id,
            func.least(
                func.min(lots.c.available_at).filter(lots.c.pending),
                func.min(lots.c.expires_at),
            ).label("due"),
        )
        .where(lots.c.account_id == _ids(account_ids), lots.c.remaining > 0)
        .group_by(lots.c.account_id)
    )
    return {row.account_id: row.due for row in rows if row.due is not None}
