"""The points ledger: double-entry transfers over member accounts and their lots.

Every write goes through one frame (:meth:`Ledger._posting`): lock the member's account row,
admit the write under the lock (the member's status; the hold or entry, re-read), settle the
account (activate pending lots that matured, expire lots that are due), work on its lots, post
the journal entry and its transfer, save the account, append the event. One lock per member
orders all of it, so two writers never interleave on the same lots; a write touches no other
member's rows (a gift, the one two-member write, locks both in member id order).

The jobs live in modules of their own: ``accounts`` (the lock and the opening), ``journal``
(entries, transfers, the end of a write), ``lots`` (taking and giving back), ``settlement``
(activation and expiry), ``queries`` (reads), ``payloads`` (what events carry).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from app.clock import Clock
from app.errors import DomainError, ErrorCode, invalid
from app.ledger import queries
from app.ledger.accounts import (
    Account,
    AccountLock,
    lock_for_write,
    programme_account,
)
from app.ledger.commands import (
    Adjust,
    CommitHold,
    Earn,
    ExchangeIn,
    ExchangeOut,
    PlaceHold,
    Reverse,
    SendGift,
    Spend,
    VoidHold,
)
from app.ledger.credits import Rider, Stamp
from app.ledger.journal import Note, close_hold, finish, post
from app.ledger.lots import give_back, record_allocations, take_available
from app.ledger.models import (
    NOT_REVERSIBLE,
    Actor,
    Balance,
    Entry,
    EntryKind,
    Hold,
    HoldStatus,
    MemberStatus,
)
from app.ledger.movements import Movements
from app.ledger.policy import LedgerPolicy as LedgerPolicy  # what a Ledger is built with
from app.ledger.settlement import Settlement, lock_due_accounts, settle, settle_accounts
from app.ledger.tables import allocations, holds

MAX_TEXT = 500
MAX_REFERENCE = 128

Subject = TypeVar("Subject")
Written = TypeVar("Written", Entry, Hold, tuple[Entry, Hold])
Admit = Callable[[Account], Awaitable[Subject]]


def _check_text(value: str, field: str) -> None:
    if not value.strip():
        raise invalid(f"{field} must not be blank", field)
    if len(value) > MAX_TEXT:
        raise invalid(f"{field} is longer than {MAX_TEXT} characters", field)


def _check_note(note: Note) -> None:
    _check_text(note.reason, "reason")
    if note.reference is not None and len(note.reference) > MAX_REFERENCE:
        raise invalid(f"reference is longer than {MAX_REFERENCE} characters", "reference")


def check_amount(policy: LedgerPolicy, amount: int) -> None:
    if amount <= 0:
        raise invalid("amount must be a positive whole number of points", "amount")
    if amount > policy.max_amount:
        raise invalid(f"amount must not exceed {policy.max_amount} points", "amount")


def checked_note(
    policy: LedgerPolicy, amount: int, reason: str, actor: Actor, reference: str | None
) -> Note:
    """The checked amount and note of a write that moves ``amount`` points."""
    note = Note(reason, actor, reference)
    check_amount(policy, amount)
    _check_note(note)
    return note


# Who may do what, by member status (docs/LEDGER.md "Member status"): checked under the lock.


def _not_closed(field: str | None = None) -> Admit[None]:
    """Points may arrive (earn, adjust, exchange in): refused for a closed account only."""

    async def admit(account: Account) -> None:
        if account.status is MemberStatus.CLOSED:
            raise DomainError(ErrorCode.MEMBER_NOT_ACTIVE, "the member's account is closed", field)

    return admit


async def _active(account: Account) -> None:
    """Points may leave (spend, hold, commit, exchange out, gift): an active member only."""
    if account.status is not MemberStatus.ACTIVE:
        raise DomainError(
            ErrorCode.MEMBER_NOT_ACTIVE,
            f"the member is {account.status.value}: no spending",
            "memberId",
        )


def _entry_and_hold(written: Entry | Hold | tuple[Entry, Hold]) -> tuple[Entry | None, Hold | None]:
    if isinstance(written, Entry):
        return written, None
    if isinstance(written, Hold):
        return None, written
    return written


class Ledger:
    def __init__(self, conn: AsyncConnection, clock: Clock, policy: LedgerPolicy) -> None:
        self.conn = conn
        self.clock = clock
        self.policy = policy
        self.moves = Movements(conn, clock, policy)

    async def _posting(
        self,
        member_id: int,
        event_type: str,
        admit: Admit[Subject],
        operate: Callable[[Account, Subject], Awaitable[Written]],
        *,
        lock: AccountLock | None = None,
        settle_first: bool = True,
        settle_last: bool = False,
        extra: dict[str, Any] | None = None,
        finishes: bool = False,
    ) -> Written:
        """The frame of every write: lock the account (or adopt the caller's ``lock``), admit
        the write under the lock (what it returns is the operation's subject), settle, operate,
        settle again where the operation returned points into lots that may have expired
        meanwhile, save the account and append the event with the entry and/or hold written
        (unless the operation ``finishes`` by itself: a credit saves and appends in its own
        statement)."""
        account = (
            await lock_for_write(self.conn, member_id)
            if lock is None
            else Account.adopt(lock, member_id)
        )
        subject = await admit(account)
        if settle_first:
            await self._settle(account)
        written = await operate(account, subject)
        if settle_last:
            await self._settle(account)
        if not finishes:
            entry, hold = _entry_and_hold(written)
            await finish(self.conn, account, event_type, entry=entry, hold=hold, extra=extra)
        elif lock is not None:  # saved at a known version: the caller's next write may adopt it
            lock.renew(account)
        return written

    # ----------------------------------------------------------------------------- writes

    async def earn(
        self,
        earn: Earn,
        actor: Actor,
        *,
        lock: AccountLock | None = None,
        stamp: Stamp | None = None,
        rider: Rider | None = None,
    ) -> Entry:
        """Credit points to a member (:class:`app.ledger.commands.Earn`). ``lock``: the account
        already locked in this transaction by :func:`app.ledger.accounts.lock_account`, its
        status read after (else it is locked here); handed back renewed, for the
        transaction's next earn. ``stamp``: a caller's row that takes the entry's id in the
        credit's statement; ``rider``: a caller's writes that ride in that statement too, its
        row handed back in ``rider.row`` (app/ledger/credits.py)."""
        note = self._note(earn.amount, earn.reason, actor, earn.reference)

        async def credit(account: Account, _: None) -> Entry:
            return await self.moves.credit(
                account,
                earn.amount,
                EntryKind.EARN,
                earn.counter_account,
                note,
                details=earn.details,
                available_at=earn.available_at,
                expires_at=earn.expires_at,
                expiry=earn.expiry,
                finish_as="points.earned",  # one statement (app/ledger/credits.py)
                stamp=stamp,
                rider=rider,
            )

        return await self._posting(
            earn.member_id, "points.earned", _not_closed(), credit, lock=lock, finishes=True
        )

    async def spend(self, spend: Spend, actor: Actor) -> Entry:
        """Debit available points, taking the lots that expire first."""
        note = self._note(spend.amount, spend.reason, actor, spend.reference)
        return await self._posting(
            spend.member_id,
            "points.spent",
            _active,
            lambda account, _: self.moves.debit(
                account, spend.amount, EntryKind.SPEND, spend.counter_account, note
            ),
        )

    async def hold(
        self, place: PlaceHold, actor: Actor, *, lock: AccountLock | None = None
    ) -> Hold:
        """Reserve available points (phase one); they leave only when the hold is committed.
        ``lock``: the account already locked in this transaction, its status read after (else
        it is locked here)."""
        member_id, amount = place.member_id, place.amount
        note = self._note(amount, place.reason, actor, place.reference)
        now = self.clock.now()
        expires_at = place.expires_at or now + timedelta(seconds=self.policy.hold_seconds)
        if expires_at <= now:
            raise invalid("a hold must expire in the future", "expiresAt")

        async def reserve(account: Account, _: None) -> Hold:
            takes = await take_available(self.conn, account, amount)
            row = (
                await self.conn.execute(
                    holds.insert()
                    .values(
                        member_id=member_id,
                        account_id=account.id,
                        amount=amount,
                        status=HoldStatus.ACTIVE.value,
                        **note.columns(),
                        expires_at=expires_at,
                        created_at=now,
                    )
                    .returning(*holds.c)
                )
            ).one()
            await record_allocations(self.conn, account, takes, hold_id=row.id)
            account.available -= amount
            account.held += amount
            return queries.hold_of(row)

        return await self._posting(member_id, "hold.created", _active, reserve, lock=lock)

    async def commit_hold(self, command: CommitHold, actor: Actor) -> Entry:
        """Phase two: the held points leave the member for good."""
        hold_id = command.hold_id

        async def committable(account: Account) -> Hold:
            hold = await self._active_hold(hold_id)
            await _active(account)
            if hold.expires_at <= self.clock.now():
                raise DomainError(
                    ErrorCode.HOLD_NOT_ACTIVE, f"hold {hold_id} has expired", "holdId"
                )
            return hold

        async def commit(account: Account, hold: Hold) -> tuple[Entry, Hold]:
            account.held -= hold.amount
            account.lifetime_spent += hold.amount
            entry = await post(
                self.conn,
                self.clock.now(),
                account,
                EntryKind.SPEND,
                -hold.amount,
                debit=account.id,
                credit=programme_account(command.counter_account),
                note=Note(hold.reason, actor, hold.reference),
                hold_id=hold.id,
            )
            await self.conn.execute(
                allocations.update()
                .where(allocations.c.hold_id == hold.id)
                .values(entry_id=entry.id)
            )
            committed = await close_hold(
                self.conn, self.clock.now(), hold, HoldStatus.COMMITTED, commit_entry_id=entry.id
            )
            return entry, committed

        member_id = (await self.get_hold(hold_id)).member_id
        entry, _ = await self._posting(member_id, "hold.committed", committable, commit)
        return entry

    async def void_hold(self, void: VoidHold, actor: Actor) -> Hold:
        """Release a hold: the points go back into the very lots they were taken from (then
        the account settles: points returned into a lot that expired meanwhile expire now, as
        they would have)."""
        hold_id, reason = void.hold_id, void.reason
        _check_text(reason, "reason")

        async def release(account: Account, hold: Hold) -> Hold:
            await give_back(self.conn, account, allocations.c.hold_id == hold.id, hold.amount)
            account.held -= hold.amount
            account.available += hold.amount
            return await close_hold(self.conn, self.clock.now(), hold, HoldStatus.VOIDED)

        return await self._posting(
            (await self.get_hold(hold_id)).member_id,
            "hold.voided",
            lambda _: self._active_hold(hold_id),
            release,
            settle_first=False,
            settle_last=True,
            extra={"reason": reason},
        )

    async def reverse(self, reverse: Reverse, actor: Actor) -> Entry:
        """Reverse all or part of an entry, never more than what is left of it.

        A credit is clawed back (from its own lot first, then by spending order, then by the
        negative-balance policy); a debit gives its points back into the lots it took them from.
        """
        entry_id, reason, amount = reverse.entry_id, reverse.reason, reverse.amount
        _check_text(reason, "reason")
        original = await self.get_entry(entry_id)
        if original.kind in NOT_REVERSIBLE or original.amount == 0:
            raise DomainError(
                ErrorCode.NOT_REVERSIBLE, f"a {original.kind} entry cannot be reversed", "entryId"
            )

        async def reversible(_: Account) -> tuple[Entry, int]:
            original = await self.get_entry(entry_id)  # re-read under the lock
            left = abs(original.amount) - original.reversed_amount
            if left == 0:
                raise DomainError(
                    ErrorCode.ALREADY_REVERSED,
                    f"entry {entry_id} is already fully reversed",
                    "entryId",
                )
            if amount is not None and not 0 < amount <= left:
                raise invalid(f"amount must be between 1 and {left}", "amount")
            return original, left if amount is None else amount

        async def undo(account: Account, what: tuple[Entry, int]) -> Entry:
            return await self.moves.reverse(account, *what, Note(reason, actor, what[0].reference))

        return await self._posting(
            original.member_id, "points.reversed", reversible, undo, settle_last=True
        )

    async def adjust(self, adjust: Adjust, actor: Actor) -> Entry:
        """A staff correction, up or down, always with a reason."""
        member_id, amount, reason = adjust.member_id, adjust.amount, adjust.reason
        if amount == 0:
            raise invalid("an adjustment must not be zero", "amount")
        check_amount(self.policy, abs(amount))
        _check_text(reason, "reason")
        note = Note(reason, actor)

        async def correct(account: Account, _: None) -> Entry:
            if amount < 0:
                return await self.moves.debit(
                    account, -amount, EntryKind.ADJUSTMENT, "adjustment", note
                )
            return await self.moves.credit(
                account, amount, EntryKind.ADJUSTMENT, "adjustment", note
            )

        return await self._posting(member_id, "points.adjusted", _not_closed(), correct)

    async def exchange_in(self, exchange: ExchangeIn, actor: Actor) -> Entry:
        """Points converted from a partner programme: credited from the partner's programme
        account, as a new lot under the programme's expiry policy (frozen members accrue, as
        with earning; closed members do not)."""
        note = self._note(exchange.amount, exchange.reason, actor, exchange.reference)

        async def credit(account: Account, _: None) -> Entry:
            return await self.moves.credit(
                account,
                exchange.amount,
                EntryKind.EXCHANGE_IN,
                exchange.partner_account,
                note,
                details=exchange.details,
            )

        return await self._posting(
            exchange.member_id, "points.exchanged_in", _not_closed("memberId"), credit
        )

    async def exchange_out(self, exchange: ExchangeOut, actor: Actor) -> Entry:
        """Points converted to a partner programme: debited to the partner's programme account,
        first-to-expire first (an active member only: frozen points cannot leave)."""
        amount = exchange.amount
        note = self._note(amount, exchange.reason, actor, exchange.reference)

        async def debit(account: Account, _: None) -> Entry:
            entry = await self.moves.debit(
                account, amount, EntryKind.EXCHANGE_OUT, exchange.partner_account, note
            )
            account.lifetime_spent -= amount  # not spending: the points moved to another programme
            return entry

        return await self._posting(exchange.member_id, "points.exchanged_out", _active, debit)

    async def gift(self, gift: SendGift, actor: Actor) -> tuple[Entry, Entry]:
        """Move available points from one member to another; the received points keep the
        expiry of the lots they came from (one new lot per source lot).

        Both accounts are locked in member id order — the fixed order every two-member write
        uses — so gifts A→B and B→A at once never deadlock. The points pass through the
        ``gifts`` clearing account (sender → gifts → recipient), so each side's entry has its
        own transfer and the clearing account always nets to zero."""
        sender_id, recipient_id, amount = gift.sender_id, gift.recipient_id, gift.amount
        note = self._note(amount, gift.reason, actor, gift.reference)
        if sender_id == recipient_id:
            raise invalid("a member cannot gift points to itself", "toMemberId")
        locked = {
            member_id: await lock_for_write(self.conn, member_id)
            for member_id in sorted({sender_id, recipient_id})
        }
        sender, recipient = locked[sender_id], locked[recipient_id]
        await _active(sender)
        if recipient.status is not MemberStatus.ACTIVE:
            raise DomainError(
                ErrorCode.MEMBER_NOT_ACTIVE,
                f"the recipient is {recipient.status.value}: it cannot receive points",
                "toMemberId",
            )
        await self._settle(sender)
        await self._settle(recipient)
        sent, takes = await self.moves.send(sender, recipient_id, amount, note)
        received = await self.moves.receive(recipient, sent, takes, note)
        await finish(self.conn, sender, "points.gift_sent", entry=sent)
        await finish(self.conn, recipient, "points.gift_received", entry=received)
        return sent, received

    async def settle_member(self, member_id: int) -> Settlement | None:
        """Activate matured pending lots and expire due ones now (the sweep calls this);
        None when nothing was due."""
        account = await lock_for_write(self.conn, member_id)
        settled = await self._settle(account)
        if settled is not None:
            await finish(self.conn, account, None)
        return settled

    async def settle_due_batch(self, limit: int) -> list[Settlement]:
        """The sweep's step: lock up to ``limit`` member accounts with something due, skipping
        those another transaction holds (see :func:`lock_due_accounts`), settle them together
        (set-based: :func:`settle_accounts`), saving them with their events in one statement."""
        now = self.clock.now()
        due = await lock_due_accounts(self.conn, now, limit)
        if not due:
            return []
        return await settle_accounts(self.conn, due, now, save=True)

    # ---------------------------------------------- reads a write's caller needs in its transaction

    async def balance(self, member_id: int) -> Balance:
        return await queries.balance(self.conn, member_id, self.clock.now())

    async def get_entry(self, entry_id: int) -> Entry:
        return await queries.get_entry(self.conn, entry_id)

    async def get_hold(self, hold_id: int) -> Hold:
        return await queries.get_hold(self.conn, hold_id)

    # -------------------------------------------------------------------- the mechanics

    def _note(self, amount: int, reason: str, actor: Actor, reference: str | None) -> Note:
        return checked_note(self.policy, amount, reason, actor, reference)

    async def _active_hold(self, hold_id: int) -> Hold:
        """The hold re-read under its member's account lock; refused unless still active."""
        hold = await self.get_hold(hold_id)
        if hold.status is not HoldStatus.ACTIVE:
            raise DomainError(
                ErrorCode.HOLD_NOT_ACTIVE, f"hold {hold_id} is already {hold.status}", "holdId"
            )
        return hold

    async def _settle(self, account: Account) -> Settlement | None:
        return await settle(self.conn, account, self.clock.now())
