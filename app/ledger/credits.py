"""A credit's writes in one statement: the entry, its transfer, the lot, the account saved and
the event appended (issue 21).

The ledger's path wrote them in four round trips after the lock (entry and transfer, lot,
account, event). Under the lock every figure is known before anything is written — the
in-memory account (app/ledger/accounts.py) is changed first, as it always was — so they go in
one statement of data-modifying CTEs, inside the caller's transaction: the same rows, the same
values, the same lock; only the entry's id is PostgreSQL's, and the event's payload takes it
there (``jsonb_set``). Built once; its parameters are bound at each execution, so neither the
construction nor SQLAlchemy's cache key is paid per credit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import ARRAY, CTE, Row, Table, Text, bindparam, func, literal, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import after_commit
from app.events.outbox import member_topic
from app.events.tables import events
from app.ledger import posted
from app.ledger.accounts import Account
from app.ledger.journal import Note, count_postings
from app.ledger.models import Entry, EntryKind
from app.ledger.payloads import posting_payload
from app.ledger.tables import accounts, entries, lots, programme_accounts, transfers

_ENTRY_COLUMNS = (
    "member_id",
    "kind",
    "amount",
    "balance_after",
    "reason",
    "source",
    "reference",
    "actor",
    "created_by_kind",
    "created_by_channel",
    "details",
    "created_at",
)
_LOT_COLUMNS = ("amount", "remaining", "pending", "available_at", "expires_at")
_ACCOUNT_COLUMNS = (
    "available",
    "pending",
    "held",
    "debt",
    "lifetime_earned",
    "lifetime_spent",
    "next_due_at",
)


def _param(name: str, column: Any) -> Any:
    """A parameter of the column's type, named so that no table's column shares its name (an
    execution's parameter named like a column would be SET on the CTE's UPDATE too)."""
    return bindparam(f"p_{name}", type_=column.type)


# A rider's statement: given the entry's id (a scalar subquery over the credit's own CTE), the
# caller's data-modifying CTEs and the one among them whose row the credit hands back.
RiderBuild = Callable[[Any], tuple[list[CTE], CTE]]


@cache
def _credit_statement(stamped: Table | None = None, ride: RiderBuild | None = None) -> Any:
    """The credit's statement; with ``stamped`` (a caller's table with ``id`` and
    ``entry_id``), it also writes the entry's id on that table's row ``p_stamp_id``; with
    ``ride``, the caller's CTEs it builds ride along and its row is returned beside the
    credit's (built once per ``ride``: it must be a module-level function)."""
    now = _param("now", entries.c.created_at)
    account_id = _param("account_id", accounts.c.id)
    version = _param("version", accounts.c.version)
    # The account still at the version its in-memory form was read at: else nothing at all is
    # written (every other part follows the entry), and the caller is told.
    current = (
        select(accounts.c.id)
        .where(accounts.c.id == account_id, or_(version.is_(None), accounts.c.version == version))
        .exists()
    )
    written = (
        entries.insert()
        .from_select(
            list(_ENTRY_COLUMNS),
            select(*(_param(name, entries.c[name]) for name in _ENTRY_COLUMNS)).where(current),
        )
        .returning(entries.c.id)
        .cte("posted")
    )
    counter = select(programme_accounts.c.id).where(
        programme_accounts.c.code == _param("counter", programme_accounts.c.code)
    )
    moved = transfers.insert().from_select(
        ["entry_id", "member_id", "debit_account_id", "credit_account_id", "amount", "created_at"],
        select(
            written.c.id,
            _param("member_id", transfers.c.member_id),
            counter.scalar_subquery(),
            account_id,
            _param("amount", transfers.c.amount),
            now,
        ),
    )
    lot = lots.insert().from_select(
        ["account_id", "member_id", "entry_id", *_LOT_COLUMNS, "created_at"],
        select(
            account_id,
            _param("member_id", lots.c.member_id),
            written.c.id,
            _param("lot_amount", lots.c.amount),
            _param("lot_amount", lots.c.remaining),
            _param("lot_pending", lots.c.pending),
            _param("lot_available_at", lots.c.available_at),
            _param("lot_expires_at", lots.c.expires_at),
            now,
        ).where(_param("with_lot", lots.c.pending) == true()),
    )
    saved = (
        accounts.update()
        .where(accounts.c.id == account_id, select(written.c.id).exists())
        .values(
            {
                **{name: _param(f"account_{name}", accounts.c[name]) for name in _ACCOUNT_COLUMNS},
                "version": accounts.c.version + 1,
            }
        )
        .returning(accounts.c.id)
    )
    path = literal(["entry", "id"], ARRAY(Text))
    event = events.insert().from_select(
        ["member_id", "topic", "type", "payload"],
        select(
            _param("member_id", events.c.member_id),
            _param("topic", events.c.topic),
            _param("event_type", events.c.type),
            func.jsonb_set(_param("payload", events.c.payload), path, func.to_jsonb(written.c.id)),
        ),
    )
    saved_cte = saved.cte("saved")
    ctes = [moved.cte("moved"), lot.cte("lot"), saved_cte, event.cte("appended")]
    if stamped is not None:
        stamp = (
            stamped.update()
            .where(
                stamped.c.id == bindparam("p_stamp_id", type_=stamped.c.id.type),
                select(written.c.id).exists(),
            )
            .values(entry_id=select(written.c.id).scalar_subquery())
        )
        ctes.append(stamp.cte("stamped"))
    saved_rows = select(func.count()).select_from(saved_cte).scalar_subquery()
    entry_id = select(written.c.id).scalar_subquery()  # one row, even when nothing is written
    credited = select(entry_id.label("id"), saved_rows.label("saved"))
    if ride is None:
        return credited.add_cte(*ctes)
    riding, returned = ride(select(written.c.id).scalar_subquery())
    # Still one row when the rider's CTE wrote none (an order id taken meanwhile): the credit's
    # figures, the rider's columns null.
    one = select(literal(1).label("one")).subquery("one")
    return (
        select(
            entry_id.label("credit_entry_id"),
            saved_rows.label("credit_saved"),
            *returned.c,
        )
        .select_from(one.outerjoin(returned, true()))
        .add_cte(*riding, *ctes)
    )


@dataclass(frozen=True)
class Stamp:
    """A caller's row that records the entry a credit writes (an engagement reward's log row):
    ``table`` has ``id`` and ``entry_id``; its row ``row_id`` takes the entry's id in the
    credit's own statement, not in one more round trip after it."""

    table: Table
    row_id: int


@dataclass
class Rider:
    """A caller's writes that need the entry's id (a purchase's row with its lines and its
    event), sent as CTEs of the credit's own statement instead of one more round trip after it
    (issue 21). ``build`` (module-level: the statement is built once for it) gets the entry's
    id as an SQL expression and returns its CTEs and the one whose row (its ``id`` not null)
    comes back, in ``row``
    (None when that CTE wrote no row: the caller decides; its unit of work rolls the credit
    back if it raises). ``params`` are bound at each execution; their names must not be a
    column of the ledger's tables (the account's UPDATE would SET it) nor start with ``p_``."""

    build: RiderBuild
    params: Mapping[str, Any]
    row: Row[Any] | None = field(default=None, init=False)


def unsaved_entry(
    now: datetime,
    account: Account,
    kind: EntryKind,
    amount: int,
    note: Note,
    details: dict[str, Any],
) -> Entry:
    """The entry a credit writes, as :func:`write_credit` writes it (its id is not known yet):
    the balance after is the in-memory account's, already credited."""
    return Entry(
        id=0,
        member_id=account.member_id,
        kind=kind,
        amount=amount,
        balance_after=account.balance.total,
        **note.columns(),
        reverses_entry_id=None,
        reversed_amount=0,
        hold_id=None,
        details=details,
        created_at=now,
    )


async def write_credit(
    conn: AsyncConnection,
    now: datetime,
    account: Account,
    entry: Entry,
    counter_account: str,
    lot: dict[str, Any] | None,
    event_type: str,
    stamp: Stamp | None = None,
    rider: Rider | None = None,
) -> Entry:
    """Write ``entry`` (its id aside) with its transfer from ``counter_account``, the ``lot``
    (none when the credit only paid off debt), the ``account`` as it is in memory and the
    ``event_type`` event, in one statement; the entry with its id. The account's row is locked
    by this transaction; it is saved only at the version it was read at (else nothing is
    written: RuntimeError). With ``stamp``, the caller's row takes the entry's id in the same
    statement."""
    payload = posting_payload(account.member_id, account.balance, entry=entry)
    params: dict[str, Any] = {
        **{name: getattr(entry, name) for name in _ENTRY_COLUMNS},
        "kind": entry.kind.value,
        "now": now,
        "account_id": account.id,
        "counter": counter_account,
        "with_lot": lot is not None,
        **{f"lot_{name}": (lot or {}).get(name) for name in _LOT_COLUMNS},
        **{f"account_{name}": getattr(account, name) for name in _ACCOUNT_COLUMNS},
        "topic": member_topic(account.member_id),
        "event_type": event_type,
        "payload": payload,
    }
    params = {f"p_{name}": value for name, value in params.items()}
    params["p_version"] = account.version
    if stamp is not None:
        params["p_stamp_id"] = stamp.row_id
    statement = _credit_statement(
        None if stamp is None else stamp.table, None if rider is None else rider.build
    )
    if rider is None:
        entry_id, saved = (await conn.execute(statement, params)).one()
    else:
        row = (await conn.execute(statement, {**rider.params, **params})).one()
        entry_id, saved = row.credit_entry_id, row.credit_saved
        rider.row = None if row.id is None else row
    if saved != 1:  # nothing was written
        raise RuntimeError(f"account {account.id} changed under its lock, outside this write")
    if account.version is not None:
        account.version += 1
    posted.record(account.member_id, account.balance)
    kind, amount = EntryKind(entry.kind), entry.amount
    after_commit(lambda: count_postings(kind, [amount]))
    return replace(entry, id=entry_id)
