"""The journal: each movement is an entry and its transfer, written once; a write ends by saving
the account and appending its event, in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app import metrics
from app.db import after_commit
from app.events.outbox import append_event, member_topic
from app.ledger import posted
from app.ledger.accounts import Account, programme_account, save
from app.ledger.models import Actor, Entry, EntryKind, Hold, HoldStatus
from app.ledger.payloads import posting_payload
from app.ledger.queries import entry_of, hold_of
from app.ledger.tables import entries, holds, programme_transfers, transfers


@dataclass(frozen=True)
class Note:
    """What every entry (and hold) records of why and by whom (docs/LEDGER.md "Accounts and
    transfers")."""

    reason: str
    actor: Actor
    reference: str | None = None

    def columns(self) -> dict[str, Any]:
        actor = self.actor
        return {
            "reason": self.reason,
            "source": actor.source,
            "reference": self.reference,
            "actor": actor.principal,
            "created_by_kind": actor.kind,
            "created_by_channel": actor.partner_channel,
        }


def _account_id(side: Any) -> Any:
    """A transfer side as a column expression: an account id, or a programme account's
    subquery."""
    return literal(side, BigInteger) if isinstance(side, int) else side


async def post(
    conn: AsyncConnection,
    now: datetime,
    account: Account,
    kind: EntryKind,
    amount: int,
    *,
    debit: Any,
    credit: Any,
    note: Note,
    reverses_entry_id: int | None = None,
    hold_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> Entry:
    """Write the journal entry and its transfer (none when nothing moved), in one statement:
    the transfer is inserted from the entry's CTE."""
    written = (
        entries.insert()
        .values(
            member_id=account.member_id,
            kind=kind.value,
            amount=amount,
            balance_after=account.balance.total,
            **note.columns(),
            reverses_entry_id=reverses_entry_id,
            hold_id=hold_id,
            details=details or {},
            created_at=now,
        )
        .returning(*entries.c)
        .cte("posted")
    )
    statement = select(written)
    if amount:
        sides = select(
            written.c.id,
            written.c.member_id,
            _account_id(debit),
            _account_id(credit),
            literal(abs(amount), BigInteger),
            literal(now, transfers.c.created_at.type),
        )
        moved = transfers.insert().from_select(
            [
                "entry_id",
                "member_id",
                "debit_account_id",
                "credit_account_id",
                "amount",
                "created_at",
            ],
            sides,
        )
        statement = statement.add_cte(moved.cte("moved"))
    entry = entry_of((await conn.execute(statement)).one())
    after_commit(lambda: count_postings(kind, [amount]))
    return entry


async def close_hold(
    conn: AsyncConnection,
    now: datetime,
    hold: Hold,
    status: HoldStatus,
    *,
    commit_entry_id: int | None = None,
) -> Hold:
    """The hold committed or voided (its points' fate is the caller's)."""
    row = (
        await conn.execute(
            holds.update()
            .where(holds.c.id == hold.id)
            .values(status=status.value, settled_at=now, commit_entry_id=commit_entry_id)
            .returning(*holds.c)
        )
    ).one()
    return hold_of(row)


async def finish(
    conn: AsyncConnection,
    account: Account,
    event_type: str | None,
    *,
    entry: Entry | None = None,
    hold: Hold | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Save the account's balances and append the event, in this transaction (none for
    settling: its own events, expired and available, are written as it goes)."""
    posted.record(account.member_id, account.balance)
    await save(conn, account)
    if event_type is not None:
        payload = posting_payload(
            account.member_id, account.balance, entry=entry, hold=hold, extra=extra
        )
        await append_event(conn, member_topic(account.member_id), event_type, payload)


def count_postings(kind: EntryKind, amounts: list[int]) -> None:
    """The postings metrics, once committed (the sweep posts a batch of entries at once)."""
    metrics.ledger_postings.labels(kind.value).inc(len(amounts))
    metrics.ledger_points.labels(kind.value).inc(sum(abs(amount) for amount in amounts))


async def programme_transfer(
    conn: AsyncConnection, now: datetime, *, debit: str, credit: str, amount: int
) -> int:
    """Move ``amount`` points between two programme accounts (by code), with no member and so
    no journal entry: the caller's own row names the transfer (docs/BANK.md). Its id."""
    if amount <= 0:
        raise ValueError("a transfer moves a positive amount")
    moved = await conn.scalar(
        programme_transfers.insert()
        .values(
            debit_account_id=programme_account(debit),
            credit_account_id=programme_account(credit),
            amount=amount,
            created_at=now,
        )
        .returning(programme_transfers.c.id)
    )
    return int(moved)
