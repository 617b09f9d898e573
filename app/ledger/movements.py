"""How points move: credit, debit, claw back, give back, send and receive. Each is a journal
entry and its transfer plus the lots it changes and the account's buckets in step; the ledger's
operations (:mod:`app.ledger.service`) compose them inside the posting frame, under the lock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.clock import Clock
from app.config import NegativeBalancePolicy
from app.errors import invalid
from app.ledger.accounts import Account, ensure_programme_account, programme_account
from app.ledger.allocation import Take, total
from app.ledger.credits import Rider, Stamp, unsaved_entry, write_credit
from app.ledger.expiry import ExpiryPolicy
from app.ledger.journal import Note, post
from app.ledger.lots import (
    add_lot,
    copy_lots,
    give_back,
    new_lot,
    record_allocations,
    take_available,
    take_for_claw_back,
)
from app.ledger.models import Entry, EntryKind
from app.ledger.policy import LedgerPolicy
from app.ledger.tables import allocations, entries, transfers


def credit_dates(
    policy: LedgerPolicy,
    now: datetime,
    available_at: datetime | None,
    expires_at: datetime | None,
    expiry: ExpiryPolicy | None,
) -> tuple[datetime, datetime | None]:
    """When a credit's points become available (never before now) and when they expire (the
    credit's own date, else ``expiry``, else the programme's policy); refused when they would
    expire before they are available."""
    available_at = max(available_at or now, now)
    if expires_at is None:
        expires_at = policy.expires_at(now, expiry)
    if expires_at is not None and expires_at <= available_at:
        raise invalid("points must expire after they become available", "expiresAt")
    return available_at, expires_at


class Movements:
    """The movements of one write, on its connection, under its account lock."""

    def __init__(self, conn: AsyncConnection, clock: Clock, policy: LedgerPolicy) -> None:
        self.conn = conn
        self.clock = clock
        self.policy = policy

    async def credit(
        self,
        account: Account,
        amount: int,
        kind: EntryKind,
        counter_account: str,
        note: Note,
        *,
        details: dict[str, Any] | None = None,
        available_at: datetime | None = None,
        expires_at: datetime | None = None,
        expiry: ExpiryPolicy | None = None,
        finish_as: str | None = None,
        stamp: Stamp | None = None,
        rider: Rider | None = None,
    ) -> Entry:
        """Credit ``amount``: what the member owes from an earlier claw-back is paid off first,
        the rest makes a lot, pending until ``available_at`` when that is later than now, and
        expiring at ``expires_at``, else by ``expiry``, else by the programme's policy.

        With ``finish_as`` (an event type) the credit also saves the account and appends that
        event — the posting frame's finish — and all of it is one statement
        (app/ledger/credits.py), with the ``stamp`` of the caller's row and the caller's
        ``rider`` (only then)."""
        now = self.clock.now()
        available_at, expires_at = credit_dates(self.policy, now, available_at, expires_at, expiry)
        paid_off = min(account.debt, amount)
        account.debt -= paid_off
        lot_amount = amount - paid_off
        pending = available_at > now
        account.add_to_lot_bucket(pending, lot_amount)
        account.lifetime_earned += amount
        details = details or {}
        details = {**details, "debt_paid": paid_off} if paid_off else details
        if finish_as is not None:
            lot = None
            if lot_amount:
                lot = new_lot(
                    account,
                    0,  # the entry's id: the statement's own
                    lot_amount,
                    pending=pending,
                    available_at=available_at,
                    expires_at=expires_at,
                    now=now,
                )
            entry = unsaved_entry(now, account, kind, amount, note, details)
            return await write_credit(
                self.conn, now, account, entry, counter_account, lot, finish_as, stamp, rider
            )
        entry = await self.post(
            account,
            kind,
            amount,
            (programme_account(counter_account), account.id),
            note,
            details=details,
        )
        if lot_amount:
            await add_lot(
                self.conn,
                account,
                entry.id,
                lot_amount,
                available_at=available_at,
                expires_at=expires_at,
                now=now,
            )
        return entry

    async def debit(
        self, account: Account, amount: int, kind: EntryKind, counter_account: str, note: Note
    ) -> Entry:
        """Debit ``amount`` of the available points, first to expire first, or refuse."""
        takes = await take_available(self.conn, account, amount)
        account.available -= amount
        account.lifetime_spent += amount
        entry = await self.post(
            account, kind, -amount, (account.id, programme_account(counter_account)), note
        )
        await record_allocations(self.conn, account, takes, entry_id=entry.id)
        return entry

    async def reverse(self, account: Account, original: Entry, amount: int, note: Note) -> Entry:
        """Reverse ``amount`` of ``original``: a credit is clawed back, a debit's points go back
        into the lots it took them from. The transfer mirrors the original's."""
        debit, credit = await self.transfer_sides(original.id)
        takes: list[Take] = []
        details: dict[str, Any] = {}
        if original.amount > 0:
            takes, clawed, details = await self._claw_back(account, original.id, amount)
            moved = -clawed
        else:
            await give_back(self.conn, account, allocations.c.entry_id == original.id, amount)
            account.available += amount
            account.lifetime_spent -= amount
            moved = amount
        entry = await self.post(
            account,
            EntryKind.REVERSAL,
            moved,
            (credit, debit),
            note,
            reverses_entry_id=original.id,
            details=details,
        )
        await record_allocations(self.conn, account, takes, entry_id=entry.id)
        await self.conn.execute(
            entries.update()
            .where(entries.c.id == original.id)
            .values(reversed_amount=entries.c.reversed_amount + amount)
        )
        return entry

    async def _claw_back(
        self, account: Account, credit_entry_id: int, amount: int
    ) -> tuple[list[Take], int, dict[str, Any]]:
        """Take a credit's points back from the lots; what they lack is owed or written off,
        by the programme's negative-balance policy (recorded in the entry's details). The lots
        taken, the points clawed back (less what was written off), the details."""
        takes = await take_for_claw_back(self.conn, account, credit_entry_id, amount)
        shortfall = amount - total(takes)
        details: dict[str, Any] = {}
        clawed = amount
        if shortfall and self.policy.negative_balance is NegativeBalancePolicy.ALLOW_NEGATIVE:
            account.debt += shortfall
            details["debt_added"] = shortfall
        elif shortfall:
            clawed -= shortfall
            details["written_off"] = shortfall
        account.lifetime_earned -= clawed
        return takes, clawed, details

    async def send(
        self, sender: Account, recipient_id: int, amount: int, note: Note
    ) -> tuple[Entry, list[Take]]:
        """The gift's sender side: its points leave for the gifts clearing account."""
        takes = await take_available(self.conn, sender, amount)
        sender.available -= amount
        sent = await self.post(
            sender,
            EntryKind.GIFT_SENT,
            -amount,
            (sender.id, await ensure_programme_account(self.conn, "clearing", "gifts")),
            note,
            details={"to_member_id": recipient_id},
        )
        await record_allocations(self.conn, sender, takes, entry_id=sent.id)
        return sent, takes

    async def receive(
        self, recipient: Account, sent: Entry, takes: list[Take], note: Note
    ) -> Entry:
        """The gift's recipient side: one lot per lot the sender's points came from, with its
        expiry (a debt the recipient owes is paid first, from the points that expire first)."""
        amount = total(takes)
        debt_paid = min(recipient.debt, amount)
        recipient.debt -= debt_paid
        recipient.available += amount - debt_paid
        received = await self.post(
            recipient,
            EntryKind.GIFT_RECEIVED,
            amount,
            (await ensure_programme_account(self.conn, "clearing", "gifts"), recipient.id),
            note,
            details={"from_member_id": sent.member_id, "sent_entry_id": sent.id}
            | ({"debt_paid": debt_paid} if debt_paid else {}),
        )
        await copy_lots(
            self.conn, recipient, received.id, takes, debt_paid=debt_paid, now=self.clock.now()
        )
        return received

    async def post(
        self,
        account: Account,
        kind: EntryKind,
        amount: int,
        sides: tuple[Any, Any],
        note: Note,
        *,
        reverses_entry_id: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> Entry:
        """The entry and its transfer from ``sides[0]`` (debit) to ``sides[1]`` (credit)."""
        return await post(
            self.conn,
            self.clock.now(),
            account,
            kind,
            amount,
            debit=sides[0],
            credit=sides[1],
            note=note,
            reverses_entry_id=reverses_entry_id,
            details=details,
        )

    async def transfer_sides(self, entry_id: int) -> tuple[int, int]:
        row = (
            await self.conn.execute(
                select(transfers.c.debit_account_id, transfers.c.credit_account_id).where(
                    transfers.c.entry_id == entry_id
                )
            )
        ).one()
        return row.debit_account_id, row.credit_account_id
