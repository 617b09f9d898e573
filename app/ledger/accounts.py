"""A member's account: the one way to open it, the one way to lock it, and its in-memory form
while a write changes it.

The account row is the one lock that orders every write of a member's points (docs/LEDGER.md
"Concurrency"): whoever changes a member's lots, holds or balances — or what the ledger's rules
read, the member's status — takes it first, through :func:`lock_account`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Row,
    String,
    Update,
    any_,
    bindparam,
    column,
    select,
    table,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import unnest_rows
from app.errors import not_found
from app.ledger.models import Balance, MemberStatus
from app.ledger.tables import accounts, programme_accounts

# The member's status, read (never written) by the ledger: members own it, the ledger's rules
# read it under the account lock. Named here the way ``accounts.member_id`` names ``members.id``
# in its foreign key, so the ledger imports no domain package.
_members = table("members", column("id", BigInteger), column("status", String))


@dataclass
class AccountLock:
    """A member's account row locked by :func:`lock_account`. A caller that reads the member in
    its own statement after the lock (its status among what else it needs) sets ``status`` and
    hands the lock to one write (``Ledger.earn(Earn(…), actor, lock=…)``): one lock and one read
    instead of two each.

    A write that adopts it uses it up (its row is stale once the write changed the account);
    a credit written in one statement (app/ledger/credits.py) hands it back :meth:`renew`-ed,
    its row the account as that statement saved it, so the transaction's next earn for the
    member (a task's reward after the purchase's points) neither locks nor reads again."""

    row: Row[Any] | Account
    status: MemberStatus | None = None  # the caller's post-lock read of the member's status
    used: bool = False

    def renew(self, account: Account) -> None:
        """The lock again, for one more write: ``account`` as its write just saved it."""
        self.row = replace(account)
        self.used = False


# Built once: every posting locks, and building the statement costs more than running it.
_LOCK_ACCOUNT = (
    select(accounts)
    .where(accounts.c.member_id == bindparam("lock_member_id", type_=BigInteger))
    .with_for_update()
)


async def lock_account(conn: AsyncConnection, member_id: int) -> AccountLock:
    """Lock the member's account row for this transaction (``SELECT … FOR UPDATE``); refuse an
    unknown member (NOT_FOUND). The lock comes first: what the caller reads of the member after
    it — its status above all — is read in a statement of its own (see :func:`member_status`)."""
    row = (await conn.execute(_LOCK_ACCOUNT, {"lock_member_id": member_id})).first()
    if row is None:
        raise not_found("member", member_id, "memberId")
    return AccountLock(row)


async def open_account(conn: AsyncConnection, member_id: int) -> None:
    """The new member's account, empty (registration opens it in its own transaction)."""
    await conn.execute(
        accounts.insert().values(kind="member", code=f"member:{member_id}", member_id=member_id)
    )


async def member_status(conn: AsyncConnection, member_id: int) -> MemberStatus:
    """The member's status, read after its account lock in a statement of its own: a statement
    that waited for the lock still sees the members table as of its start (READ COMMITTED
    re-checks only the locked row), and a status change commits under this same lock."""
    status = await conn.execute(select(_members.c.status).where(_members.c.id == member_id))
    return MemberStatus(status.scalar_one())


async def member_statuses(
    conn: AsyncConnection, member_ids: Sequence[int]
) -> dict[int, MemberStatus]:
    """Many members' statuses in one statement (after their accounts are locked). The ids go
    as one array (``= ANY``): an expanding ``IN`` renders a parameter per id, so a sweep's batch
    of 1,000 compiled a new statement of 1,000 parameters each time."""
    rows = await conn.execute(_MEMBER_STATUSES, {"ids": list(member_ids)})
    return {row.id: MemberStatus(row.status) for row in rows}


_MEMBER_STATUSES = select(_members.c.id, _members.c.status).where(
    _members.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger())))
)


@dataclass
class Account:
    """A member account row, locked for this transaction, changed in memory, then saved."""

    id: int
    member_id: int
    status: MemberStatus
    available: int
    pending: int
    held: int
    debt: int
    lifetime_earned: int
    lifetime_spent: int
    next_due_at: datetime | None
    # The row's version as read under the lock: a credit saves the account only if it is
    # still that version (a write that bypassed this in-memory account would make it stale).
    version: int | None = None

    @classmethod
    def of(cls, row: Row[Any] | Account, status: MemberStatus) -> Account:
        """A locked member account row (or an account as a write saved it) as the in-memory
        account a write changes."""
        return cls(
            id=row.id,
            member_id=row.member_id,
            status=status,
            available=row.available,
            pending=row.pending,
            held=row.held,
            debt=row.debt,
            lifetime_earned=row.lifetime_earned,
            lifetime_spent=row.lifetime_spent,
            next_due_at=row.next_due_at,
            version=row.version,
        )

    @classmethod
    def adopt(cls, lock: AccountLock, member_id: int) -> Account:
        """The account of a caller's lock, once: a second write from the same row would save
        balances that miss the first."""
        if lock.row.member_id != member_id or lock.status is None or lock.used:
            raise RuntimeError("an account lock is for its own member, with its status, and once")
        lock.used = True
        return cls.of(lock.row, lock.status)

    @property
    def balance(self) -> Balance:
        return Balance(self.available, self.pending, self.held, self.debt)

    def due_no_later_than(self, moment: datetime | None) -> None:
        if moment is not None and (self.next_due_at is None or moment < self.next_due_at):
            self.next_due_at = moment

    def add_to_lot_bucket(self, pending: bool, amount: int) -> None:
        if pending:
            self.pending += amount
        else:
            self.available += amount


async def lock_for_write(conn: AsyncConnection, member_id: int) -> Account:
    """Lock the member's account and read its status after the lock: what every write starts
    from."""
    row = (await lock_account(conn, member_id)).row
    return Account.of(row, await member_status(conn, member_id))


async def save(conn: AsyncConnection, account: Account) -> None:
    """Write the account's balances back (its row is still locked)."""
    await save_all(conn, [account])


async def save_all(conn: AsyncConnection, saved: Sequence[Account]) -> None:
    """Write the accounts' balances back (their rows are still locked), in one statement
    whatever their number."""
    await conn.execute(saving(saved))


def saving(saved: Sequence[Account]) -> Update:
    """The UPDATE writing the accounts' balances and next due moments back, one statement
    whatever their number."""
    number = BigInteger()
    rows = unnest_rows(
        id=(number, [a.id for a in saved]),
        available=(number, [a.available for a in saved]),
        pending=(number, [a.pending for a in saved]),
        held=(number, [a.held for a in saved]),
        debt=(number, [a.debt for a in saved]),
        lifetime_earned=(number, [a.lifetime_earned for a in saved]),
        lifetime_spent=(number, [a.lifetime_spent for a in saved]),
        next_due_at=(DateTime(timezone=True), [a.next_due_at for a in saved]),
    )
    return (
        accounts.update()
        .where(accounts.c.id == rows.c.id)
        .values(
            available=rows.c.available,
            pending=rows.c.pending,
            held=rows.c.held,
            debt=rows.c.debt,
            lifetime_earned=rows.c.lifetime_earned,
            lifetime_spent=rows.c.lifetime_spent,
            next_due_at=rows.c.next_due_at,
            version=accounts.c.version + 1,
        )
    )


def programme_account(code: str) -> Any:
    """A programme account's id as a scalar subquery (a transfer side)."""
    return (
        select(programme_accounts.c.id).where(programme_accounts.c.code == code).scalar_subquery()
    )


async def open_programme_account(conn: AsyncConnection, kind: str, code: str) -> int | None:
    """Open a programme account (a partner's, a charity's, a clearing account): it keeps no
    balance row, its balance is the sum of its transfers. None when ``code`` is taken."""
    created = await conn.scalar(
        pg_insert(programme_accounts)
        .values(kind=kind, code=code)
        .on_conflict_do_nothing(index_elements=["code"])
        .returning(programme_accounts.c.id)
    )
    return None if created is None else int(created)


async def programme_account_id(conn: AsyncConnection, code: str) -> int | None:
    found = await conn.scalar(
        select(programme_accounts.c.id).where(programme_accounts.c.code == code)
    )
    return None if found is None else int(found)


async def ensure_programme_account(conn: AsyncConnection, kind: str, code: str) -> int:
    """The programme account's id, opened on first use."""
    found = await programme_account_id(conn, code)
    if found is None:
        found = await open_programme_account(conn, kind, code)
    if found is None:  # opened by another transaction meanwhile
        found = await programme_account_id(conn, code)
    if found is None:
        raise RuntimeError(f"programme account {code} neither found nor opened")
    return found
