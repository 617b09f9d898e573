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

from sqlalchemy import BigInteger, DateTime, any_, bindparam, case, func, literal, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import after_commit, unnest_rows
from app.events.outbox import append_events, events_insert, member_topic
from app.ledger.accounts import Account, member_statuses, saving
from app.ledger.journal import Note, count_postings
from app.ledger.models import Actor, EntryKind
from app.ledger.payloads import balance_payload, entry_created_at, entry_payload_sql
from app.ledger.tables import accounts, lots

EXPIRED = Note("points expired", Actor("system", "jobs"))
_BALANCE_ARRAYS = ("account_ids", "available", "pending", "held", "debt")


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
    conn: AsyncConnection, due: Sequence[Account], now: datetime, *, save: bool = False
) -> list[Settlement]:
    """Settle locked accounts whose ``next_due_at`` has come, all at once: activate their
    matured pending lots, expire their due lots (one expiry entry, its transfer to the bank and
    a ``points.expired`` event per member, an allocation per lot), then a ``points.available``
    event per member whose points matured, and their next due moments. The in-memory accounts
    follow; saving them is the caller's, or with ``save`` this function's: the events, the next
    due moments and the accounts then go in one statement (the expiry sweep's batch)."""
    by_id = {account.id: account for account in due}
    activated = await _activate_matured_lots(conn, [a.id for a in due if a.pending], now)
    for account_id, points in activated.items():
        by_id[account_id].pending -= points
        by_id[account_id].available += points
    expired = await _expire_due_lots(conn, due, now)
    for gone in expired:
        account = by_id[gone.account_id]
        account.pending -= gone.from_pending
        account.available -= gone.points - gone.from_pending
    events = _available_events(by_id, activated)
    if save:
        next_due = await _announce_and_save(conn, due, events, now)
    else:
        await append_events(conn, events)
        next_due = await _next_due(conn, due, now)
    for account in due:
        account.next_due_at = next_due.get(account.id)
    expired_of = {gone.account_id: gone for gone in expired}
    return [
        Settlement(
            account.member_id,
            activated.get(account.id, 0),
            expired_of[account.id].points if account.id in expired_of else 0,
            expired_of[account.id].lots if account.id in expired_of else 0,
        )
        for account in due
    ]


def _available_events(
    by_id: dict[int, Account], activated: dict[int, int]
) -> list[tuple[str, str, dict[str, Any]]]:
    """A ``points.available`` event per account whose pending points matured, with the
    balance after settling. (The ``points.expired`` ones, written before them, are the expiry
    statement's.)"""
    return [
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
    """An account's expiry: the points that expired, those of them that were pending, how many
    lots."""

    account_id: int
    points: int
    from_pending: int
    lots: int


# The expiry of a whole batch in one statement, row work done where the rows are: the due lots
# of the accounts settled are emptied, and per member one expiry entry (its details list the
# lots), its transfer into the bank (the pool of expired points), its ``points.expired`` event
# (the entry and the balance after, shaped here: building a payload per member in Python was
# 40 % of a year-end lot, docs/PERFORMANCE.md "Expiry sweep"), and one allocation per lot are
# written; what comes back is four numbers an account. ``settling`` carries each account's
# balance before (the caller's, after its matured points were activated; it may not be saved
# yet).
_EXPIRE = text(
    f"""
WITH settling AS (
    SELECT * FROM unnest(CAST(:account_ids AS bigint[]), CAST(:available AS bigint[]),
                         CAST(:pending AS bigint[]), CAST(:held AS bigint[]),
                         CAST(:debt AS bigint[]))
        AS s(account_id, available, pending, held, debt)
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
), after AS (
    SELECT p.*, s.available - (p.points - p.from_pending) AS available,
           s.pending - p.from_pending AS pending, s.held, s.debt
    FROM per_account p JOIN settling s USING (account_id)
), posted AS (
    INSERT INTO entries (member_id, kind, amount, balance_after, reason, source, reference,
                         actor, created_by_kind, created_by_channel, details, created_at)
    SELECT member_id, :kind, -points, available + pending + held - debt, :reason, :source,
           :reference, :actor, :created_by_kind, :created_by_channel,
           jsonb_build_object('lots', taken), :now
    FROM after
    ORDER BY member_id
    RETURNING *
), moved AS (
    INSERT INTO transfers (entry_id, member_id, debit_account_id, credit_account_id, amount,
                           created_at)
    SELECT posted.id, posted.member_id, p.account_id, (SELECT id FROM accounts WHERE code = 'bank'),
           p.points, :now
    FROM posted JOIN per_account p USING (member_id)
), allocated AS (
    INSERT INTO allocations (member_id, lot_id, amount, entry_id)
    SELECT member_id, due.id, due.remaining, posted.id FROM due JOIN posted USING (member_id)
), announced AS (
    INSERT INTO events (member_id, topic, type, payload)
    SELECT posted.member_id, 'member:' || posted.member_id, 'points.expired', jsonb_build_object(
        'entry', {entry_payload_sql("posted")},
        'balance', jsonb_build_object(
            'available', a.available, 'pending', a.pending, 'held', a.held, 'debt', a.debt,
            'total', a.available + a.pending + a.held - a.debt))
    FROM posted JOIN after a USING (member_id)
    ORDER BY posted.member_id
)
SELECT account_id, points, from_pending, lots FROM per_account
"""
).bindparams(
    *(bindparam(name, type_=ARRAY(BigInteger())) for name in _BALANCE_ARRAYS),
    bindparam("now", type_=DateTime(timezone=True)),
)


async def _expire_due_lots(
    conn: AsyncConnection, due: Sequence[Account], now: datetime
) -> list[_Expired]:
    """Expire the accounts' due lots into the bank, with their events (:data:`_EXPIRE`); per
    account that had any, its expiry."""
    rows = await conn.execute(
        _EXPIRE,
        {
            "account_ids": [account.id for account in due],
            "available": [account.available for account in due],
            "pending": [account.pending for account in due],
            "held": [account.held for account in due],
            "debt": [account.debt for account in due],
            "now": now,
            "created_at_text": entry_created_at(now),
            "kind": EntryKind.EXPIRY.value,
            **EXPIRED.columns(),
        },
    )
    expired = [_Expired(*row) for row in rows]
    if expired:
        after_commit(lambda: count_postings(EntryKind.EXPIRY, [-e.points for e in expired]))
    return expired


def _next_due_of(account_id: Any, pending: Any, now: datetime) -> Any:
    """When a just-settled account next has a lot to expire or to activate (NULL: nothing
    ever), as a SQL expression of its id and its pending points after settling. Every lot due by
    ``now`` is gone, so the next expiry is the first open lot's after ``now``: one probe of the
    open lots' index (``ix_lots_open``), not a scan of the account's lots; the pending lots are
    read only when the account has pending points (their sum)."""
    next_expiry = (
        select(func.min(lots.c.expires_at))
        .where(lots.c.account_id == account_id, lots.c.remaining > 0, lots.c.expires_at > now)
        .scalar_subquery()
    )
    next_maturity = (
        select(func.min(lots.c.available_at))
        .where(lots.c.account_id == account_id, lots.c.remaining > 0, lots.c.pending)
        .scalar_subquery()
    )
    return func.least(next_expiry, case((pending > 0, next_maturity)))


async def _next_due(
    conn: AsyncConnection, settled: Sequence[Account], now: datetime
) -> dict[int, datetime]:
    """When each settled account next has a lot to activate or expire (absent: nothing ever)."""
    number = BigInteger()
    rows = unnest_rows(
        id=(number, [a.id for a in settled]), pending=(number, [a.pending for a in settled])
    )
    found = await conn.execute(select(rows.c.id, _next_due_of(rows.c.id, rows.c.pending, now)))
    return {account_id: due for account_id, due in found if due is not None}


async def _announce_and_save(
    conn: AsyncConnection,
    settled: Sequence[Account],
    events: Sequence[tuple[str, str, dict[str, Any]]],
    now: datetime,
) -> dict[int, datetime]:
    """One statement: the events, and the accounts saved with their next due moments (worked
    out by the statement); those moments, per account (absent: nothing ever)."""
    statement = saving(
        settled, next_due_at=lambda rows: _next_due_of(accounts.c.id, rows.c.pending, now)
    ).returning(accounts.c.id, accounts.c.next_due_at)
    if events:
        statement = statement.add_cte(events_insert(events).cte("announced"))
    found = await conn.execute(statement)
    return {account_id: due for account_id, due in found if due is not None}
