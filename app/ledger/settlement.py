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
from typing import Any, Protocol

from sqlalchemy import BigInteger, DateTime, TextClause, any_, bindparam, literal, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import after_commit
from app.events.outbox import append_events, member_topic
from app.ledger.accounts import Account
from app.ledger.journal import Note, count_postings
from app.ledger.models import Actor, Balance, EntryKind
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


class Settling(Protocol):
    """What settling reads and changes of a locked member account: its balances and its next
    due moment (a write's :class:`~app.ledger.accounts.Account`, or the sweep's
    :class:`DueAccount`)."""

    id: int
    member_id: int
    available: int
    pending: int
    held: int
    debt: int
    next_due_at: datetime | None

    @property
    def balance(self) -> Balance: ...


@dataclass(slots=True)
class DueAccount:
    """A member account the sweep locked, as settling needs it. Not the member's status:
    settling never reads it (due points expire and matured ones activate whatever the member's
    status), so the sweep neither reads the members nor builds the write's whole account — a
    statement and ~1,000 rows a batch fewer (docs/PERFORMANCE.md "Expiry sweep")."""

    id: int
    member_id: int
    available: int
    pending: int
    held: int
    debt: int
    next_due_at: datetime | None

    @property
    def balance(self) -> Balance:
        return Balance(self.available, self.pending, self.held, self.debt)


async def settle(conn: AsyncConnection, account: Account, now: datetime) -> Settlement | None:
    """Activate matured pending lots and expire due ones; None when nothing was due."""
    if account.next_due_at is None or account.next_due_at > now:
        return None
    (settled,) = await settle_accounts(conn, [account], now)
    return settled


async def settle_accounts(
    conn: AsyncConnection, due: Sequence[Settling], now: datetime, *, save: bool = False
) -> list[Settlement]:
    """Settle locked accounts whose ``next_due_at`` has come, all at once: activate their
    matured pending lots, expire their due lots (one expiry entry, its transfer to the bank and
    a ``points.expired`` event per member, an allocation per lot), then a ``points.available``
    event per member whose points matured, and their next due moments. The in-memory accounts
    follow; saving them is the caller's, or with ``save`` this function's: the accounts are then
    saved with their next due moments by the expiry statement itself (the expiry sweep's
    batch)."""
    by_id = {account.id: account for account in due}
    activated = await _activate_matured_lots(conn, [a.id for a in due if a.pending], now)
    for account_id, points in activated.items():
        by_id[account_id].pending -= points
        by_id[account_id].available += points
    expired, saved_next_due = await _expire_due_lots(conn, due, now, activated, save=save)
    for gone in expired:
        account = by_id[gone.account_id]
        account.pending -= gone.from_pending
        account.available -= gone.points - gone.from_pending
    await append_events(conn, _available_events(by_id, activated))
    next_due = saved_next_due if save else await _next_due(conn, due, now)
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
    by_id: dict[int, Settling], activated: dict[int, int]
) -> list[tuple[str, str, dict[str, Any]]]:
    """A ``points.available`` event per account whose pending points matured, with the
    balance after settling. (The ``points.expired`` ones, written before them, are the expiry
    statement's: a member's events keep that order.)"""
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


async def lock_due_accounts(conn: AsyncConnection, now: datetime, limit: int) -> list[DueAccount]:
    """Up to ``limit`` member accounts with something due (a lot to expire or to activate),
    earliest due first, locked — skipping those another transaction holds: a write, which
    settles the account itself, or another sweep."""
    rows = await conn.execute(_LOCK_DUE, {"now": now, "limit": limit})
    return [DueAccount(*row) for row in rows]


_LOCK_DUE = (
    select(
        accounts.c.id,
        accounts.c.member_id,
        accounts.c.available,
        accounts.c.pending,
        accounts.c.held,
        accounts.c.debt,
        accounts.c.next_due_at,
    )
    .where(
        accounts.c.kind == "member",
        accounts.c.next_due_at <= bindparam("now", type_=DateTime(timezone=True)),
    )
    .order_by(accounts.c.next_due_at)
    .limit(bindparam("limit", type_=BigInteger))
    .with_for_update(skip_locked=True)
)


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
# yet). The sweep's variant (:data:`_EXPIRE_AND_SAVE`) ends by saving every account of the batch
# with its balance and next due moment: no second statement sends the balances back.
_GIVEN_BALANCES = """
    SELECT * FROM unnest(CAST(:account_ids AS bigint[]), CAST(:available AS bigint[]),
                         CAST(:pending AS bigint[]), CAST(:held AS bigint[]),
                         CAST(:debt AS bigint[]))
        AS s(account_id, available, pending, held, debt)"""
# The sweep's accounts are saved by the statement itself, so their rows are as the sweep locked
# them: their balances are read here, plus what matured just before (usually nothing), rather
# than sent — asyncpg checks every element of an array parameter in Python, and four arrays of
# a batch's size were a fifth of the sweep's Python (docs/PERFORMANCE.md "Expiry sweep").
_LOCKED_BALANCES = """
    SELECT a.id AS account_id, a.available + COALESCE(m.points, 0) AS available,
           a.pending - COALESCE(m.points, 0) AS pending, a.held, a.debt
    FROM accounts a
    LEFT JOIN unnest(CAST(:matured_ids AS bigint[]), CAST(:matured AS bigint[]))
        AS m(account_id, points) ON m.account_id = a.id
    WHERE a.id = ANY(CAST(:account_ids AS bigint[]))"""
_EXPIRE_STEPS = f"""
WITH settling AS ({{balances}}
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
    SELECT posted.id, posted.member_id, p.account_id,
           (SELECT id FROM programme_accounts WHERE code = 'bank'), p.points, :now
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
"""


def _next_due_sql(account_id: str, pending: str) -> str:
    """When a just-settled account next has a lot to expire or to activate (NULL: nothing
    ever), as SQL of its id and its pending points after settling. Every lot due by ``:now`` is
    gone (or going, in the statement this is part of: hence the maturity's ``expires_at``
    test), so the next expiry is the first open lot's after ``:now``: one probe of the open
    lots' index (``ix_lots_open``), not a scan of the account's lots; the pending lots are read
    only when the account has pending points (their sum)."""
    return f"""LEAST(
        (SELECT min(l.expires_at) FROM lots l
          WHERE l.account_id = {account_id} AND l.remaining > 0 AND l.expires_at > :now),
        CASE WHEN {pending} > 0 THEN
            (SELECT min(l.available_at) FROM lots l
              WHERE l.account_id = {account_id} AND l.remaining > 0 AND l.pending
                AND (l.expires_at IS NULL OR l.expires_at > :now)) END)"""


def _with_arrays(sql: str, arrays: Sequence[str]) -> TextClause:
    return text(sql).bindparams(
        *(bindparam(name, type_=ARRAY(BigInteger())) for name in arrays),
        bindparam("now", type_=DateTime(timezone=True)),
    )


_EXPIRE = _with_arrays(
    _EXPIRE_STEPS.replace("{balances}", _GIVEN_BALANCES)
    + "SELECT account_id, points, from_pending, lots, NULL FROM per_account",
    _BALANCE_ARRAYS,
)
# Every account of the batch saved (those with nothing expired too: their matured points), with
# its next due moment; the row of each comes back with its expiry (NULLs: none).
_EXPIRE_AND_SAVE = _with_arrays(
    _EXPIRE_STEPS.replace("{balances}", _LOCKED_BALANCES)
    + f"""
UPDATE accounts a
SET available = s.available - COALESCE(p.points - p.from_pending, 0),
    pending = s.pending - COALESCE(p.from_pending, 0),
    next_due_at = {_next_due_sql("a.id", "s.pending - COALESCE(p.from_pending, 0)")},
    version = a.version + 1
FROM settling s LEFT JOIN per_account p USING (account_id)
WHERE a.id = s.account_id
RETURNING a.id, p.points, p.from_pending, p.lots, a.next_due_at
""",
    ("account_ids", "matured_ids", "matured"),
)


async def _expire_due_lots(
    conn: AsyncConnection,
    due: Sequence[Settling],
    now: datetime,
    activated: dict[int, int],
    *,
    save: bool,
) -> tuple[list[_Expired], dict[int, datetime]]:
    """Expire the accounts' due lots into the bank, with their events (:data:`_EXPIRE`); per
    account that had any, its expiry. With ``save`` every account is saved too
    (:data:`_EXPIRE_AND_SAVE`: its balances read from its row, as locked, plus ``activated``,
    the points that just matured), and its next due moment comes back (absent: nothing
    ever)."""
    balances: dict[str, list[int]] = (
        {"matured_ids": list(activated), "matured": list(activated.values())}
        if save
        else {
            "available": [account.available for account in due],
            "pending": [account.pending for account in due],
            "held": [account.held for account in due],
            "debt": [account.debt for account in due],
        }
    )
    rows = await conn.execute(
        _EXPIRE_AND_SAVE if save else _EXPIRE,
        {
            "account_ids": [account.id for account in due],
            **balances,
            "now": now,
            "created_at_text": entry_created_at(now),
            "kind": EntryKind.EXPIRY.value,
            **EXPIRED.columns(),
        },
    )
    expired, next_due = [], {}
    for account_id, points, from_pending, lots_expired, due_at in rows:
        if points is not None:
            expired.append(_Expired(account_id, points, from_pending, lots_expired))
        if due_at is not None:
            next_due[account_id] = due_at
    if expired:
        after_commit(lambda: count_postings(EntryKind.EXPIRY, [-e.points for e in expired]))
    return expired, next_due


_NEXT_DUE = text(
    "SELECT s.id, "
    + _next_due_sql("s.id", "s.pending")
    + " FROM unnest(CAST(:account_ids AS bigint[]), CAST(:pending AS bigint[])) AS s(id, pending)"
).bindparams(
    bindparam("account_ids", type_=ARRAY(BigInteger())),
    bindparam("pending", type_=ARRAY(BigInteger())),
    bindparam("now", type_=DateTime(timezone=True)),
)


async def _next_due(
    conn: AsyncConnection, settled: Sequence[Settling], now: datetime
) -> dict[int, datetime]:
    """When each settled account next has a lot to activate or expire (absent: nothing ever)."""
    found = await conn.execute(
        _NEXT_DUE,
        {
            "account_ids": [a.id for a in settled],
            "pending": [a.pending for a in settled],
            "now": now,
        },
    )
    return {account_id: due for account_id, due in found if due is not None}
