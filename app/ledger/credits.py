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

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, Text, bindparam, func, literal, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import after_commit
from app.events.outbox import member_topic
from app.events.tables import events
from app.ledger import posted
from app.ledger.accounts import Account
from app.ledger.journal import Note, count_postings
from app.ledger.models import Entry, EntryKind
from app.ledger.payloads import posting_payload
from app.ledger.tables import accounts, entries, lots, transfers

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


def _credit_statement() -> Any:
    now = _param("now", entries.c.created_at)
    account_id = _param("account_id", accounts.c.id)
    written = (
        entries.insert()
        .values({name: _param(name, entries.c[name]) for name in _ENTRY_COLUMNS})
        .returning(entries.c.id)
        .cte("posted")
    )
    counter = select(accounts.c.id).where(accounts.c.code == _param("counter", accounts.c.code))
    moved = transfers.insert().from_select(
        ["entry_id", "debit_account_id", "credit_account_id", "amount", "created_at"],
        select(
            written.c.id,
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
        .where(accounts.c.id == account_id)
        .values(
            {
                **{name: _param(f"account_{name}", accounts.c[name]) for name in _ACCOUNT_COLUMNS},
                "version": accounts.c.version + 1,
            }
        )
    )
    path = literal(["entry", "id"], ARRAY(Text))
    event = events.insert().from_select(
        ["topic", "type", "payload"],
        select(
            _param("topic", events.c.topic),
            _param("event_type", events.c.type),
            func.jsonb_set(_param("payload", events.c.payload), path, func.to_jsonb(written.c.id)),
        ),
    )
    return select(written.c.id).add_cte(
        moved.cte("moved"), lot.cte("lot"), saved.cte("saved"), event.cte("appended")
    )


_CREDIT = _credit_statement()


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
) -> Entry:
    """Write ``entry`` (its id aside) with its transfer from ``counter_account``, the ``lot``
    (none when the credit only paid off debt), the ``account`` as it is in memory and the
    ``event_type`` event, in one statement; the entry with its id. The account's row is locked
    by this transaction."""
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
    entry_id = (await conn.execute(_CREDIT, params)).scalar_one()
    posted.record(account.member_id, account.balance)
    kind, amount = EntryKind(entry.kind), entry.amount
    after_commit(lambda: count_postings(kind, [amount]))
    return replace(entry, id=entry_id)
