"""Reads of the ledger: balances as of now, entries, holds, lots, history.

What other packages need to know of the ledger's tables they ask here, so the tables stay the
ledger's to change. None of these writes or locks anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, literal_column, or_, select, text, true, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import autocommit_fetch
from app.errors import not_found
from app.ledger.models import Balance, Entry, EntryKind, Hold, HoldStatus, Lot
from app.ledger.tables import accounts, entries, holds, lots, programme_accounts, transfers


def _columns(model: type[Any], row: Row[Any]) -> dict[str, Any]:
    """The row's values for the model's fields (rows carry the same names)."""
    return {field.name: row._mapping[field.name] for field in fields(model)}


def entry_of(row: Row[Any]) -> Entry:
    return Entry(**{**_columns(Entry, row), "kind": EntryKind(row.kind)})


def hold_of(row: Row[Any]) -> Hold:
    return Hold(**{**_columns(Hold, row), "status": HoldStatus(row.status)})


def lot_of(row: Row[Any]) -> Lot:
    return Lot(**_columns(Lot, row))


def spending_order() -> tuple[Any, ...]:
    """First to expire first (never-expiring lots last), then oldest."""
    return (lots.c.expires_at.asc().nulls_last(), lots.c.id)


async def balance(conn: AsyncConnection, member_id: int, now: datetime) -> Balance:
    """The balance as of now, counting lots that matured or expired since the last write."""
    found = await balances(conn, [member_id], now)
    if member_id not in found:
        raise not_found("member", member_id, "memberId")
    return found[member_id]


async def balances(
    conn: AsyncConnection, member_ids: list[int], now: datetime
) -> dict[int, Balance]:
    """Many balances in one statement (one snapshot), as of now: an account with lots that
    matured or expired since its last write has them counted. Unknown members are absent."""
    due = lots.c.expires_at <= now
    not_due = or_(lots.c.expires_at.is_(None), lots.c.expires_at > now)
    matured = lots.c.pending & (lots.c.available_at <= now)
    remaining = func.sum(lots.c.remaining)
    since_last_write = (
        select(
            func.coalesce(remaining.filter(matured & not_due), 0).label("matured"),
            func.coalesce(remaining.filter(due & ~lots.c.pending), 0).label("expired"),
            func.coalesce(remaining.filter(due & lots.c.pending), 0).label("expired_pending"),
        )
        .where(
            lots.c.account_id == accounts.c.id,
            lots.c.remaining > 0,
            accounts.c.next_due_at <= now,  # nothing to count for most accounts
        )
        .lateral("since_last_write")
    )
    rows = await conn.execute(
        select(accounts, since_last_write)
        .select_from(accounts.join(since_last_write, true()))
        .where(accounts.c.member_id.in_(member_ids))
    )
    return {
        row.member_id: Balance(
            available=row.available + row.matured - row.expired,
            pending=row.pending - row.matured - row.expired_pending,
            held=row.held,
            debt=row.debt,
        )
        for row in rows
    }


# balances() as one prepared statement, for the balance read of every request that shows one
# (``me { balance }``): building and compiling the Core statement cost about 0.9 ms of CPU a
# read, this statement's whole read about 0.2 ms (docs/PERFORMANCE.md). Same columns, same rules.
# BALANCE_COLUMNS and BALANCE_OF_ACCOUNT are also a member's standing read's (app/auth/standing.py:
# the account ``a`` joined to the member, ``$1`` the time), so the rules are written once.
BALANCE_COLUMNS = "a.available, a.pending, a.held, a.debt, s.matured, s.expired, s.expired_pending"
BALANCE_OF_ACCOUNT = """
JOIN LATERAL (
    SELECT coalesce(sum(l.remaining) FILTER (
               WHERE l.pending AND l.available_at <= $1
                 AND (l.expires_at IS NULL OR l.expires_at > $1)), 0)::bigint AS matured,
           coalesce(sum(l.remaining) FILTER (
               WHERE l.expires_at <= $1 AND NOT l.pending), 0)::bigint AS expired,
           coalesce(sum(l.remaining) FILTER (
               WHERE l.expires_at <= $1 AND l.pending), 0)::bigint AS expired_pending
    FROM lots AS l
    WHERE l.account_id = a.id AND l.remaining > 0 AND a.next_due_at <= $1
) AS s ON true
"""
# A member ``m``'s account ``a`` and its balance's columns, for a statement that reads the member
# (a member's standing read); ``$1`` the time, as in BALANCE_OF_ACCOUNT.
MEMBER_BALANCE_JOIN = f"""
LEFT JOIN accounts AS a ON a.member_id = m.id
LEFT {BALANCE_OF_ACCOUNT.strip()}
"""
BALANCES_NOW = f"""
SELECT a.member_id, {BALANCE_COLUMNS}
FROM accounts AS a
{BALANCE_OF_ACCOUNT}
WHERE a.member_id = ANY($2::bigint[])
"""


def balance_of_record(row: Mapping[str, Any]) -> Balance:
    """The balance as of the statement's time, from a row with :data:`BALANCE_COLUMNS`: lots
    matured or expired since the account was last settled count as the settlement would."""
    return Balance(
        available=row["available"] + row["matured"] - row["expired"],
        pending=row["pending"] - row["matured"] - row["expired_pending"],
        held=row["held"],
        debt=row["debt"],
    )


async def balances_now(
    conn: AsyncConnection, member_ids: list[int], now: datetime
) -> dict[int, Balance]:
    """:func:`balances` on a connection of :func:`app.db.one_statement_read` (autocommit: the
    statement goes to the driver as it is, outside any transaction)."""
    rows = await autocommit_fetch(conn, BALANCES_NOW, now, member_ids, writes=False)
    return {row["member_id"]: balance_of_record(row) for row in rows}


async def get_entry(conn: AsyncConnection, entry_id: int) -> Entry:
    row = (await conn.execute(select(entries).where(entries.c.id == entry_id))).first()
    if row is None:
        raise not_found("entry", entry_id, "entryId")
    return entry_of(row)


async def get_hold(conn: AsyncConnection, hold_id: int) -> Hold:
    row = (await conn.execute(select(holds).where(holds.c.id == hold_id))).first()
    if row is None:
        raise not_found("hold", hold_id, "holdId")
    return hold_of(row)


async def history(
    conn: AsyncConnection, member_id: int, *, first: int, before_id: int | None = None
) -> list[Entry]:
    """The member's journal, newest first; ``before_id`` is the cursor."""
    query = select(entries).where(entries.c.member_id == member_id)
    if before_id is not None:
        query = query.where(entries.c.id < before_id)
    rows = await conn.execute(query.order_by(entries.c.id.desc()).limit(first))
    return [entry_of(row) for row in rows]


async def open_lots(
    conn: AsyncConnection, member_id: int, *, first: int, after_id: int | None = None
) -> list[Lot]:
    """Lots with points left, in spending order; ``after_id`` is the cursor."""
    never: Any = literal_column("'infinity'::timestamptz")
    position = tuple_(func.coalesce(lots.c.expires_at, never), lots.c.id)
    query = select(lots).where(lots.c.member_id == member_id, lots.c.remaining > 0)
    if after_id is not None:
        cursor = (
            select(func.coalesce(lots.c.expires_at, never), lots.c.id)
            .where(lots.c.id == after_id)
            .subquery()
        )
        query = query.where(position > select(cursor).scalar_subquery())
    rows = await conn.execute(query.order_by(*spending_order()).limit(first))
    return [lot_of(row) for row in rows]


async def spendable_lots(
    conn: AsyncConnection, member_id: int, now: datetime
) -> list[tuple[int, int, datetime | None]]:
    """``(lot id, remaining, expires_at)`` of the lots a spend at ``now`` could take, in
    spending order: available (or matured, which the spend's settle activates) and not expired.
    Read under the member's account lock, they are the lots the next hold or spend takes."""
    matured = or_(~lots.c.pending, lots.c.available_at <= now)
    not_due = or_(lots.c.expires_at.is_(None), lots.c.expires_at > now)
    rows = await conn.execute(
        select(lots.c.id, lots.c.remaining, lots.c.expires_at)
        .where(lots.c.member_id == member_id, lots.c.remaining > 0, matured, not_due)
        .order_by(*spending_order())
    )
    return [(row.id, row.remaining, row.expires_at) for row in rows]


async def member_holds(
    conn: AsyncConnection, member_id: int, *, active_only: bool = True
) -> list[Hold]:
    query = select(holds).where(holds.c.member_id == member_id)
    if active_only:
        query = query.where(holds.c.status == HoldStatus.ACTIVE.value)
    rows = await conn.execute(query.order_by(holds.c.id.desc()).limit(100))
    return [hold_of(row) for row in rows]


async def expired_hold_ids(conn: AsyncConnection, now: datetime, *, limit: int = 500) -> list[int]:
    """Active holds past their expiry, oldest first (the hold time-out job voids them)."""
    due = await conn.scalars(
        select(holds.c.id)
        .where(holds.c.status == HoldStatus.ACTIVE.value, holds.c.expires_at <= now)
        .order_by(holds.c.expires_at, holds.c.id)
        .limit(limit)
    )
    return list(due.all())


# ------------------------------------------------------------ what other packages read of it

# Relations for SQL written in other packages (their audit checks, the leaderboards' loads):
# the columns are what the ledger promises, the tables behind them stay its own to change.
# PostgreSQL inlines them, so a query through them plans as one over the tables.
ENTRIES = """(
    SELECT id, member_id, kind, amount, reversed_amount, reverses_entry_id, created_at
    FROM entries
)"""

# Entries with, for a reversal, the kind and instant of the entry it reverses.
ENTRIES_WITH_REVERSED = """(
    SELECT e.id, e.member_id, e.kind, e.amount, e.created_at,
           o.kind AS reversed_kind, o.created_at AS reversed_created_at
    FROM entries e LEFT JOIN entries o ON o.id = e.reverses_entry_id
)"""

# The same relation for a scan of the whole journal, in two branches: the entries that reverse
# nothing (nearly all) straight from the table, and the few reversals (by their partial index)
# joined to what they reverse. The LEFT JOIN above, scanning every entry, would hash the whole
# journal first (a million members' board rebuild: seconds and a hundred megabytes for a handful
# of reversals); for a lookup of a few entries by id (the projector's) it is the right one.
_ALL_ENTRIES_WITH_REVERSED = """(
    SELECT id, member_id, kind, amount, created_at,
           CAST(NULL AS varchar) AS reversed_kind, CAST(NULL AS timestamptz) AS reversed_created_at
    FROM entries WHERE reverses_entry_id IS NULL
    UNION ALL
    SELECT e.id, e.member_id, e.kind, e.amount, e.created_at, o.kind, o.created_at
    FROM entries e JOIN entries o ON o.id = e.reverses_entry_id
    WHERE e.reverses_entry_id IS NOT NULL
)"""

HOLDS = """(
    SELECT id, member_id, amount, status, commit_entry_id FROM holds
)"""

# Every move of points, a member's transfers and the programme's own (programme_transfers: no
# member, no entry, migration 0057), for a programme account's sums. ``entry_id`` is null only
# for a programme transfer.
ALL_TRANSFERS = """(
    SELECT id, entry_id, amount, debit_account_id, credit_account_id FROM transfers
    UNION ALL
    SELECT id, NULL, amount, debit_account_id, credit_account_id FROM programme_transfers
)"""

# Moves between two programme accounts with their codes (the points bank's charity matching:
# docs/BANK.md).
PROGRAMME_TRANSFERS = """(
    SELECT t.id, t.amount, t.debit_account_id, t.credit_account_id,
           d.code AS debit_code, c.code AS credit_code
    FROM programme_transfers t JOIN programme_accounts d ON d.id = t.debit_account_id
    JOIN programme_accounts c ON c.id = t.credit_account_id
)"""


def account_transfers(code: str) -> str:
    """The transfers of the account ``code`` (a constant of the caller's, never input: it is
    formatted in), each once with the account's sides (``credited``, ``debited``), the
    programme's own included (``entry_id`` null). Found by the transfers' indexes on either
    account: a join of every transfer to the accounts first, filtered by code after, took half
    an hour for the bank's audit checks on a year-end programme."""
    return _account_transfers(f"'{code}'")


def _account_transfers(code: str) -> str:
    """account_transfers() for ``code`` an SQL expression (a literal or a parameter)."""
    return f"""(
    SELECT t.id, t.entry_id, t.amount,
           t.credit_account_id = a.id AS credited, t.debit_account_id = a.id AS debited
    FROM programme_accounts a JOIN transfers t
      ON a.id IN (t.credit_account_id, t.debit_account_id)
    WHERE a.code = {code}
    UNION ALL
    SELECT t.id, NULL, t.amount,
           t.credit_account_id = a.id AS credited, t.debit_account_id = a.id AS debited
    FROM programme_accounts a JOIN programme_transfers t
      ON a.id IN (t.credit_account_id, t.debit_account_id)
    WHERE a.code = {code}
)"""


# Each programme account's posted balance: what its transfers credited less what they debited.
PROGRAMME_BALANCES = f"""(
    SELECT a.id AS account_id,
           COALESCE((SELECT sum(amount) FROM {ALL_TRANSFERS} t
                     WHERE t.credit_account_id = a.id), 0)
         - COALESCE((SELECT sum(amount) FROM {ALL_TRANSFERS} t
                     WHERE t.debit_account_id = a.id), 0)
               AS balance
    FROM programme_accounts a
)"""


def _points_by_member(spans: int, ranked_by: int | None = None) -> str:
    """Per member, for each of ``spans`` spans ``[start_i, end_i)`` (``$3``, ``$4``, … in
    pairs; ``$1`` the kinds, ``$2`` the entries left out): its points and the instant of its
    last counted entry in microseconds since 1970, in one scan of the entries for all spans;
    best first on span ``ranked_by`` (0-based) when given."""
    at = "coalesce(e.reversed_created_at, e.created_at)"
    order = ""
    if ranked_by is not None:
        points, reached = 2 + 2 * ranked_by, 3 + 2 * ranked_by
        order = f"ORDER BY {points} DESC NULLS LAST, {reached}, 1"
    inside = []
    for i in range(spans):
        start, end = f"CAST(${3 + 2 * i} AS timestamptz)", f"CAST(${4 + 2 * i} AS timestamptz)"
        inside.append(f"(({start} IS NULL OR {at} >= {start}) AND ({end} IS NULL OR {at} < {end}))")
    sums = ",\n".join(
        f"CAST(sum(e.amount) FILTER (WHERE {where}) AS bigint), "
        f"CAST(extract(epoch FROM max(e.created_at) FILTER (WHERE {where})) * 1000000 AS bigint)"
        for where in inside
    )
    return f"""
    SELECT e.member_id, {sums}
    FROM {_ALL_ENTRIES_WITH_REVERSED} e
    WHERE e.amount <> 0
      AND (e.kind = ANY($1::text[]) OR (e.kind = 'reversal' AND e.reversed_kind = ANY($1::text[])))
      AND ({" OR ".join(inside)})
      AND e.id <> ALL(CAST($2 AS bigint[]))
    GROUP BY e.member_id
    {order}
    """


async def stream_points_by_member(
    conn: AsyncConnection,
    *,
    kinds: list[str],
    spans: Sequence[tuple[datetime | None, datetime | None]],
    excluded: list[int],
    chunk: int,
    ranked_by: int | None = None,
) -> AsyncIterator[Sequence[Sequence[Any]]]:
    """Per member, for each span ``[start, end)`` (None: unbounded): the points of its entries
    of ``kinds`` in it (a reversal counts with the entry it reverses, at that entry's instant)
    and the instant of the last one in microseconds since 1970; the entries ``excluded`` left
    out. Rows ``(member_id, points_1, reached_1, points_2, reached_2, …)``, a span's points None
    or not positive when the member has nothing there. One scan of the entries for every span,
    streamed from a cursor ``chunk`` members at a time (the caller's transaction): a million
    members are never all in memory. ``ranked_by`` (a span's index): the rows in that span's
    board order (more points, reached first, smaller id), members without points there last.

    Read through the driver's own cursor and handed over as the driver's records: a million
    rows of nine columns turned into SQLAlchemy rows, or even plain tuples, were most of a board
    rebuild's time in Python, and the instants come as whole numbers, not datetimes."""
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    args: list[Any] = [kinds, excluded]
    for start, end in spans:
        args += [start, end]
    cursor = await driver.cursor(_points_by_member(len(spans), ranked_by), *args)
    while rows := await cursor.fetch(chunk):
        yield rows


def earned_since(member_id: Any, since: Any) -> Any:
    """A scalar subquery: the member's points earned after ``since``, less what was reversed of
    them (None when none), for a caller's own statement."""
    return (
        select(func.sum(entries.c.amount - entries.c.reversed_amount))
        .where(
            entries.c.member_id == member_id,
            entries.c.kind == EntryKind.EARN.value,
            entries.c.created_at > since,
        )
        .scalar_subquery()
    )


async def programme_balance(conn: AsyncConnection, code: str) -> int:
    """A programme account's balance: what it was credited less what it was debited."""
    found = await conn.scalar(_PROGRAMME_BALANCE, {"code": code})
    return int(found or 0)


_PROGRAMME_BALANCE = text(
    f"""
    SELECT COALESCE(sum(CASE WHEN t.credited THEN t.amount ELSE -t.amount END), 0)
    FROM {_account_transfers(":code")} t
    """
)


async def expired_into(conn: AsyncConnection, code: str) -> int:
    """Every point that expired into the programme account ``code`` (the points bank)."""
    found = await conn.scalar(_EXPIRED_INTO, {"code": code, "kind": EntryKind.EXPIRY.value})
    return int(found or 0)


_EXPIRED_INTO = text(
    """
    SELECT COALESCE(sum(t.amount), 0)
    FROM programme_accounts a JOIN transfers t ON t.credit_account_id = a.id
    JOIN entries e ON e.id = t.entry_id
    WHERE a.code = :code AND e.kind = :kind
    """
)


async def transfer_of_entry(conn: AsyncConnection, entry_id: int) -> int:
    """The id of the transfer an entry posted."""
    return int(
        await conn.scalar(
            text("SELECT id FROM transfers WHERE entry_id = :e ORDER BY id LIMIT 1"),
            {"e": entry_id},
        )
    )


async def earned_between(
    conn: AsyncConnection,
    member_ids: Sequence[int],
    start: datetime,
    end: datetime,
    *,
    excluding: str,
) -> dict[int, int]:
    """Per member, the points earned in ``[start, end)`` less what was reversed of them, not
    counting the earns credited from the programme account ``excluding`` (a game's clearing
    account: points won from another member are not points the programme gave)."""
    moved_from = (
        select(transfers.c.id)
        .join(programme_accounts, programme_accounts.c.id == transfers.c.debit_account_id)
        .where(transfers.c.entry_id == entries.c.id, programme_accounts.c.code == excluding)
        .exists()
    )
    rows = await conn.execute(
        select(entries.c.member_id, func.sum(entries.c.amount - entries.c.reversed_amount))
        .where(
            entries.c.member_id.in_(list(member_ids)),
            entries.c.kind == EntryKind.EARN.value,
            entries.c.created_at >= start,
            entries.c.created_at < end,
            ~moved_from,
        )
        .group_by(entries.c.member_id)
    )
    return {member_id: int(points) for member_id, points in rows}


# The expiry reminders' reads of the lots (app/lifecycle/reminders.py composes them into its
# set-based statement): which accounts hold points that expire inside the window, cut into
# batches of :batch accounts — the last account of each, from one pass over ix_lots_open_expiry.
EXPIRING_ACCOUNT_BATCHES = """
SELECT account_id FROM (
    SELECT account_id, row_number() OVER (ORDER BY account_id) AS n, count(*) OVER () AS total
    FROM (SELECT DISTINCT account_id FROM lots
          WHERE remaining > 0 AND expires_at > :now AND expires_at <= :until) AS expiring
) AS numbered
WHERE n % :batch = 0 OR n = total
ORDER BY account_id
"""
# A batch's (:after < account_id <= :upto) points expiring inside the window, per member and last
# valid day in the programme's timezone (:tz), with the first moment they expire.
EXPIRING_BY_MEMBER_AND_DAY = """
SELECT member_id,
       ((expires_at - interval '1 microsecond') AT TIME ZONE :tz)::date AS expires_on,
       min(expires_at) AS expires_at, sum(remaining)::bigint AS points
FROM lots
WHERE account_id > :after AND account_id <= :upto
  AND remaining > 0 AND expires_at > :now AND expires_at <= :until
GROUP BY 1, 2
"""
