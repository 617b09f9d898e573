"""The points ledger: double-entry transfers over member accounts and their lots.

Every write follows the same order: lock the member's account row, settle it (activate pending
lots that matured, expire lots that are due), work on its lots, post the journal entry and its
transfer, save the account, append the event. One lock per member orders all of it, so two
writers never interleave on the same lots; a write touches no other member's rows.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Row,
    bindparam,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from app import metrics
from app.clock import Clock
from app.config import NegativeBalancePolicy, Settings
from app.db import after_commit
from app.errors import DomainError, ErrorCode, invalid, not_found
from app.events.outbox import append_event, member_topic
from app.ledger import posted
from app.ledger.accounts import (
    Account,
    AccountLock,
    clearing_account,
    lock_for_write,
    member_statuses,
    programme_account,
    save,
)
from app.ledger.allocation import Take, take_in_order, total
from app.ledger.expiry import ExpiryPolicy, programme_policy
from app.ledger.models import (
    NOT_REVERSIBLE,
    Actor,
    Balance,
    Entry,
    EntryKind,
    Hold,
    HoldStatus,
    Lot,
    MemberStatus,
)
from app.ledger.tables import accounts, allocations, entries, holds, lots, transfers

MAX_TEXT = 500
MAX_REFERENCE = 128


@dataclass(frozen=True)
class LedgerPolicy:
    max_amount: int
    negative_balance: NegativeBalancePolicy
    hold_seconds: int
    expiry: ExpiryPolicy  # the programme's; a credit may bring its own expiry instead
    timezone: str  # business-local days (expiry runs to a local midnight)

    @classmethod
    def from_settings(cls, settings: Settings) -> LedgerPolicy:
        return cls(
            max_amount=settings.max_points_per_operation,
            negative_balance=settings.negative_balance_policy,
            hold_seconds=settings.default_hold_seconds,
            expiry=programme_policy(settings),
            timezone=settings.timezone,
        )

    def expires_at(
        self, earned_at: datetime, override: ExpiryPolicy | None = None
    ) -> datetime | None:
        """When points credited at ``earned_at`` expire, by ``override`` or the programme's."""
        return (override or self.expiry).expires_at(earned_at, self.timezone)


@dataclass(frozen=True)
class _OpenLot:
    id: int
    remaining: int
    pending: bool
    expires_at: datetime | None


@dataclass(frozen=True)
class Settlement:
    """What settling an account did: pending points activated, due lots expired."""

    member_id: int
    activated: int
    expired: int
    expired_lots: int


def _columns(model: type[Any], row: Row[Any]) -> dict[str, Any]:
    """The row's values for the model's fields (rows carry the same names)."""
    return {field.name: row._mapping[field.name] for field in fields(model)}


def _entry(row: Row[Any]) -> Entry:
    return Entry(**{**_columns(Entry, row), "kind": EntryKind(row.kind)})


def _hold(row: Row[Any]) -> Hold:
    return Hold(**{**_columns(Hold, row), "status": HoldStatus(row.status)})


def _lot(row: Row[Any]) -> Lot:
    return Lot(**_columns(Lot, row))


def _account_id(side: Any) -> Any:
    """A transfer side as a column expression: an account id, or a programme account's
    subquery."""
    return literal(side, BigInteger) if isinstance(side, int) else side


def _check_text(value: str, field: str, *, required: bool = True) -> None:
    if required and not value.strip():
        raise invalid(f"{field} must not be blank", field)
    if len(value) > MAX_TEXT:
        raise invalid(f"{field} is longer than {MAX_TEXT} characters", field)


def _check_reference(reference: str | None) -> None:
    if reference is not None and len(reference) > MAX_REFERENCE:
        raise invalid(f"reference is longer than {MAX_REFERENCE} characters", "reference")


def _insufficient(wanted: int, available: int) -> DomainError:
    return DomainError(
        ErrorCode.INSUFFICIENT_POINTS,
        f"{wanted} points asked, {available} available",
        "amount",
    )


def _spending_order() -> tuple[Any, ...]:
    return (lots.c.expires_at.asc().nulls_last(), lots.c.id)


class Ledger:
    def __init__(self, conn: AsyncConnection, clock: Clock, policy: LedgerPolicy) -> None:
        self.conn = conn
        self.clock = clock
        self.policy = policy

    # ----------------------------------------------------------------------------- writes

    async def earn(
        self,
        member_id: int,
        amount: int,
        *,
        reason: str,
        actor: Actor,
        reference: str | None = None,
        available_at: datetime | None = None,
        expires_at: datetime | None = None,
        expiry: ExpiryPolicy | None = None,
        details: dict[str, Any] | None = None,
        counter_account: str = "issuance",
        lock: AccountLock | None = None,
    ) -> Entry:
        """Credit points to a member: a new lot, pending until ``available_at`` when later.

        The lot expires at ``expires_at`` when given, else by the ``expiry`` policy (an earning
        rule's override), else by the programme's policy. ``lock``: the account already locked
        in this transaction by :meth:`lock_account` (else it is locked here)."""
        self._check_amount(amount)
        _check_text(reason, "reason")
        _check_reference(reference)
        account = (
            await lock_for_write(self.conn, member_id)
            if lock is None
            else Account.adopt(lock, member_id)
        )
        if account.status is MemberStatus.CLOSED:
            raise DomainError(ErrorCode.MEMBER_NOT_ACTIVE, "the member's account is closed")
        await self._settle(account)
        entry = await self._credit(
            account,
            amount,
            kind=EntryKind.EARN,
            counter_account=counter_account,
            reason=reason,
            actor=actor,
            reference=reference,
            available_at=available_at,
            expires_at=expires_at,
            expiry=expiry,
            details=details or {},
        )
        await self._finish(account, "points.earned", entry=entry)
        return entry

    async def spend(
        self,
        member_id: int,
        amount: int,
        *,
        reason: str,
        actor: Actor,
        reference: str | None = None,
        counter_account: str = "redemption",
    ) -> Entry:
        """Debit available points, taking the lots that expire first."""
        self._check_amount(amount)
        _check_text(reason, "reason")
        _check_reference(reference)
        account = await lock_for_write(self.conn, member_id)
        self._require_active(account)
        await self._settle(account)
        entry = await self._debit(
            account,
            amount,
            kind=EntryKind.SPEND,
            counter_account=counter_account,
            reason=reason,
            actor=actor,
            reference=reference,
        )
        await self._finish(account, "points.spent", entry=entry)
        return entry

    async def hold(
        self,
        member_id: int,
        amount: int,
        *,
        reason: str,
        actor: Actor,
        reference: str | None = None,
        expires_at: datetime | None = None,
    ) -> Hold:
        """Reserve available points (phase one); they leave only when the hold is committed."""
        self._check_amount(amount)
        _check_text(reason, "reason")
        _check_reference(reference)
        now = self.clock.now()
        expires_at = expires_at or now + timedelta(seconds=self.policy.hold_seconds)
        if expires_at <= now:
            raise invalid("a hold must expire in the future", "expiresAt")
        account = await lock_for_write(self.conn, member_id)
        self._require_active(account)
        await self._settle(account)
        takes = await self._take_available(account, amount)
        row = (
            await self.conn.execute(
                holds.insert()
                .values(
                    member_id=member_id,
                    account_id=account.id,
                    amount=amount,
                    status=HoldStatus.ACTIVE.value,
                    reason=reason,
                    source=actor.source,
                    reference=reference,
                    actor=actor.principal,
                    created_by_kind=actor.kind,
                    created_by_channel=actor.partner_channel,
                    expires_at=expires_at,
                    created_at=now,
                )
                .returning(*holds.c)
            )
        ).one()
        await self._record_allocations(takes, hold_id=row.id)
        account.available -= amount
        account.held += amount
        hold = _hold(row)
        await self._finish(account, "hold.created", hold=hold)
        return hold

    async def commit_hold(self, hold_id: int, *, actor: Actor) -> Entry:
        """Phase two: the held points leave the member for good."""
        account, hold = await self._lock_active_hold(hold_id)
        self._require_active(account)
        if hold.expires_at <= self.clock.now():
            raise DomainError(ErrorCode.HOLD_NOT_ACTIVE, f"hold {hold_id} has expired", "holdId")
        await self._settle(account)
        account.held -= hold.amount
        account.lifetime_spent += hold.amount
        entry = await self._post(
            account,
            EntryKind.SPEND,
            -hold.amount,
            debit=account.id,
            credit=programme_account("redemption"),
            reason=hold.reason,
            actor=actor,
            reference=hold.reference,
            hold_id=hold.id,
        )
        await self.conn.execute(
            allocations.update().where(allocations.c.hold_id == hold.id).values(entry_id=entry.id)
        )
        settled = await self._settle_hold(hold, HoldStatus.COMMITTED, commit_entry_id=entry.id)
        await self._finish(account, "hold.committed", entry=entry, hold=settled)
        return entry

    async def void_hold(self, hold_id: int, *, actor: Actor, reason: str) -> Hold:
        """Release a hold: the points go back into the very lots they were taken from."""
        _check_text(reason, "reason")
        account, hold = await self._lock_active_hold(hold_id)
        await self._give_back(account, allocations.c.hold_id == hold.id, hold.amount)
        account.held -= hold.amount
        account.available += hold.amount
        voided = await self._settle_hold(hold, HoldStatus.VOIDED)
        # Points returned into a lot that expired meanwhile expire now, as they would have.
        await self._settle(account)
        await self._finish(account, "hold.voided", hold=voided, extra={"reason": reason})
        return voided

    async def expired_hold_ids(self, *, limit: int = 500) -> list[int]:
        """Active holds past their expiry, oldest first (the hold time-out job voids them)."""
        due = await self.conn.scalars(
            select(holds.c.id)
            .where(
                holds.c.status == HoldStatus.ACTIVE.value,
                holds.c.expires_at <= self.clock.now(),
            )
            .order_by(holds.c.expires_at, holds.c.id)
            .limit(limit)
        )
        return list(due.all())

    async def reverse(
        self, entry_id: int, *, reason: str, actor: Actor, amount: int | None = None
    ) -> Entry:
        """Reverse all or part of an entry, never more than what is left of it.

        A credit is clawed back (from its own lot first, then by spending order, then by the
        negative-balance policy); a debit gives its points back into the lots it took them from.
        """
        _check_text(reason, "reason")
        original = await self.get_entry(entry_id)
        if original.kind in NOT_REVERSIBLE or original.amount == 0:
            raise DomainError(
                ErrorCode.NOT_REVERSIBLE, f"a {original.kind} entry cannot be reversed", "entryId"
            )
        account = await lock_for_write(self.conn, original.member_id)
        original = await self.get_entry(entry_id)  # re-read under the lock
        left = abs(original.amount) - original.reversed_amount
        if left == 0:
            raise DomainError(
                ErrorCode.ALREADY_REVERSED, f"entry {entry_id} is already fully reversed", "entryId"
            )
        amount = left if amount is None else amount
        if not 0 < amount <= left:
            raise invalid(f"amount must be between 1 and {left}", "amount")
        await self._settle(account)
        mirror = await self._transfer_sides(entry_id)
        if original.amount > 0:
            entry = await self._claw_back(account, original, amount, mirror, reason, actor)
        else:
            entry = await self._return_debit(account, original, amount, mirror, reason, actor)
        await self.conn.execute(
            entries.update()
            .where(entries.c.id == entry_id)
            .values(reversed_amount=entries.c.reversed_amount + amount)
        )
        await self._settle(account)
        await self._finish(account, "points.reversed", entry=entry)
        return entry

    async def adjust(self, member_id: int, amount: int, *, reason: str, actor: Actor) -> Entry:
        """A staff correction, up or down, always with a reason."""
        if amount == 0:
            raise invalid("an adjustment must not be zero", "amount")
        self._check_amount(abs(amount))
        _check_text(reason, "reason")
        account = await lock_for_write(self.conn, member_id)
        if account.status is MemberStatus.CLOSED:
            raise DomainError(ErrorCode.MEMBER_NOT_ACTIVE, "the member's account is closed")
        await self._settle(account)
        if amount > 0:
            entry = await self._credit(
                account,
                amount,
                kind=EntryKind.ADJUSTMENT,
                counter_account="adjustment",
                reason=reason,
                actor=actor,
                reference=None,
                details={},
            )
        else:
            entry = await self._debit(
                account,
                -amount,
                kind=EntryKind.ADJUSTMENT,
                counter_account="adjustment",
                reason=reason,
                actor=actor,
                reference=None,
            )
        await self._finish(account, "points.adjusted", entry=entry)
        return entry

    async def exchange_in(
        self,
        member_id: int,
        amount: int,
        *,
        partner_account: str,
        reason: str,
        actor: Actor,
        reference: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Entry:
        """Points converted from a partner programme: credited from the partner's programme
        account, as a new lot under the programme's expiry policy (frozen members accrue, as
        with earning; closed members do not)."""
        self._check_amount(amount)
        _check_text(reason, "reason")
        _check_reference(reference)
        account = await lock_for_write(self.conn, member_id)
        if account.status is MemberStatus.CLOSED:
            raise DomainError(
                ErrorCode.MEMBER_NOT_ACTIVE, "the member's account is closed", "memberId"
            )
        await self._settle(account)
        entry = await self._credit(
            account,
            amount,
            kind=EntryKind.EXCHANGE_IN,
            counter_account=partner_account,
            reason=reason,
            actor=actor,
            reference=reference,
            details=details or {},
        )
        await self._finish(account, "points.exchanged_in", entry=entry)
        return entry

    async def exchange_out(
        self,
        member_id: int,
        amount: int,
        *,
        partner_account: str,
        reason: str,
        actor: Actor,
        reference: str | None = None,
    ) -> Entry:
        """Points converted to a partner programme: debited to the partner's programme account,
        first-to-expire first (an active member only: frozen points cannot leave)."""
        self._check_amount(amount)
        _check_text(reason, "reason")
        _check_reference(reference)
        account = await lock_for_write(self.conn, member_id)
        self._require_active(account)
        await self._settle(account)
        entry = await self._debit(
            account,
            amount,
            kind=EntryKind.EXCHANGE_OUT,
            counter_account=partner_account,
            reason=reason,
            actor=actor,
            reference=reference,
        )
        account.lifetime_spent -= amount  # not spending: the points moved to another programme
        await self._finish(account, "points.exchanged_out", entry=entry)
        return entry

    async def gift(
        self,
        sender_id: int,
        recipient_id: int,
        amount: int,
        *,
        reason: str,
        actor: Actor,
        reference: str | None = None,
    ) -> tuple[Entry, Entry]:
        """Move available points from one member to another; the received points keep the
        expiry of the lots they came from (one new lot per source lot).

        Both accounts are locked in member id order — the fixed order every two-member write
        uses — so gifts A→B and B→A at once never deadlock. The points pass through the
        ``gifts`` clearing account (sender → gifts → recipient), so each side's entry has its
        own transfer and the clearing account always nets to zero."""
        self._check_amount(amount)
        _check_text(reason, "reason")
        _check_reference(reference)
        if sender_id == recipient_id:
            raise invalid("a member cannot gift points to itself", "toMemberId")
        locked = {
            member_id: await lock_for_write(self.conn, member_id)
            for member_id in sorted({sender_id, recipient_id})
        }
        sender, recipient = locked[sender_id], locked[recipient_id]
        self._require_active(sender)
        if recipient.status is not MemberStatus.ACTIVE:
            raise DomainError(
                ErrorCode.MEMBER_NOT_ACTIVE,
                f"the recipient is {recipient.status.value}: it cannot receive points",
                "toMemberId",
            )
        await self._settle(sender)
        await self._settle(recipient)
        takes = await self._take_available(sender, amount)
        sender.available -= amount
        sent = await self._post(
            sender,
            EntryKind.GIFT_SENT,
            -amount,
            debit=sender.id,
            credit=await clearing_account(self.conn, "gifts"),
            reason=reason,
            actor=actor,
            reference=reference,
            details={"to_member_id": recipient_id},
        )
        await self._record_allocations(takes, entry_id=sent.id)
        received = await self._receive_lots(recipient, takes, sent, reason, actor, reference)
        await self._finish(sender, "points.gift_sent", entry=sent)
        await self._finish(recipient, "points.gift_received", entry=received)
        return sent, received

    async def _receive_lots(
        self,
        recipient: Account,
        takes: list[Take],
        sent: Entry,
        reason: str,
        actor: Actor,
        reference: str | None,
    ) -> Entry:
        """Credit the recipient one lot per source lot, with the source's expiry (a debt it
        owes is paid first, from the points that expire first)."""
        amount = total(takes)
        sources = await self.conn.execute(
            select(lots.c.id, lots.c.expires_at).where(lots.c.id.in_([t.source_id for t in takes]))
        )
        expiry_of = {row.id: row.expires_at for row in sources}
        debt_left = min(recipient.debt, amount)
        recipient.debt -= debt_left
        recipient.available += amount - debt_left
        received = await self._post(
            recipient,
            EntryKind.GIFT_RECEIVED,
            amount,
            debit=await clearing_account(self.conn, "gifts"),
            credit=recipient.id,
            reason=reason,
            actor=actor,
            reference=reference,
            details={"from_member_id": sent.member_id, "sent_entry_id": sent.id}
            | ({"debt_paid": debt_left} if debt_left else {}),
        )
        now = self.clock.now()
        new_lots = []
        for take in takes:
            paid = min(debt_left, take.amount)
            debt_left -= paid
            if take.amount - paid:
                expires_at = expiry_of[take.source_id]
                new_lots.append(
                    {
                        "account_id": recipient.id,
                        "member_id": recipient.member_id,
                        "entry_id": received.id,
                        "amount": take.amount - paid,
                        "remaining": take.amount - paid,
                        "pending": False,
                        "available_at": now,
                        "expires_at": expires_at,
                        "created_at": now,
                    }
                )
                recipient.due_no_later_than(expires_at)
        if new_lots:
            await self.conn.execute(lots.insert(), new_lots)
        return received

    async def settle_member(self, member_id: int) -> Settlement | None:
        """Activate matured pending lots and expire due ones now (the sweep calls this);
        None when nothing was due."""
        account = await lock_for_write(self.conn, member_id)
        settled = await self._settle(account)
        if settled is not None:
            await self._finish(account, None)
        return settled

    async def settle_due_batch(self, limit: int) -> list[Settlement]:
        """The sweep's step: lock up to ``limit`` member accounts with something due (a lot to
        expire or to activate), earliest due first, skipping those another transaction holds —
        a write, which settles the account itself, or another sweep — and settle each."""
        rows = (
            await self.conn.execute(
                select(accounts)
                .where(accounts.c.kind == "member", accounts.c.next_due_at <= self.clock.now())
                .order_by(accounts.c.next_due_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not rows:
            return []
        statuses = await member_statuses(self.conn, [row.member_id for row in rows])
        done = []
        for row in rows:
            account = Account.of(row, statuses[row.member_id])
            settled = await self._settle(account)
            if settled is not None:
                await self._finish(account, None)
                done.append(settled)
        return done

    # ------------------------------------------------------------------------------ reads

    async def balance(self, member_id: int) -> Balance:
        """The balance as of now, counting lots that matured or expired since the last write."""
        found = await self.balances([member_id])
        if member_id not in found:
            raise not_found("member", member_id, "memberId")
        return found[member_id]

    async def balances(self, member_ids: list[int]) -> dict[int, Balance]:
        """Many balances in one statement (one snapshot), as of now: an account with lots that
        matured or expired since its last write has them counted. Unknown members are absent."""
        now = self.clock.now()
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
        rows = await self.conn.execute(
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

    async def get_entry(self, entry_id: int) -> Entry:
        row = (await self.conn.execute(select(entries).where(entries.c.id == entry_id))).first()
        if row is None:
            raise not_found("entry", entry_id, "entryId")
        return _entry(row)

    async def get_hold(self, hold_id: int) -> Hold:
        row = (await self.conn.execute(select(holds).where(holds.c.id == hold_id))).first()
        if row is None:
            raise not_found("hold", hold_id, "holdId")
        return _hold(row)

    async def history(
        self, member_id: int, *, first: int, before_id: int | None = None
    ) -> list[Entry]:
        query = select(entries).where(entries.c.member_id == member_id)
        if before_id is not None:
            query = query.where(entries.c.id < before_id)
        rows = await self.conn.execute(query.order_by(entries.c.id.desc()).limit(first))
        return [_entry(row) for row in rows]

    async def open_lots(
        self, member_id: int, *, first: int, after_id: int | None = None
    ) -> list[Lot]:
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
        rows = await self.conn.execute(query.order_by(*_spending_order()).limit(first))
        return [_lot(row) for row in rows]

    async def holds(self, member_id: int, *, active_only: bool = True) -> list[Hold]:
        query = select(holds).where(holds.c.member_id == member_id)
        if active_only:
            query = query.where(holds.c.status == HoldStatus.ACTIVE.value)
        rows = await self.conn.execute(query.order_by(holds.c.id.desc()).limit(100))
        return [_hold(row) for row in rows]

    # -------------------------------------------------------------------- the mechanics

    def _check_amount(self, amount: int) -> None:
        if amount <= 0:
            raise invalid("amount must be a positive whole number of points", "amount")
        if amount > self.policy.max_amount:
            raise invalid(f"amount must not exceed {self.policy.max_amount} points", "amount")

    @staticmethod
    def _require_active(account: Account) -> None:
        if account.status is not MemberStatus.ACTIVE:
            raise DomainError(
                ErrorCode.MEMBER_NOT_ACTIVE,
                f"the member is {account.status.value}: no spending",
                "memberId",
            )

    async def _lock_active_hold(self, hold_id: int) -> tuple[Account, Hold]:
        hold = await self.get_hold(hold_id)
        account = await lock_for_write(self.conn, hold.member_id)
        hold = await self.get_hold(hold_id)  # re-read under the account lock
        if hold.status is not HoldStatus.ACTIVE:
            raise DomainError(
                ErrorCode.HOLD_NOT_ACTIVE, f"hold {hold_id} is already {hold.status}", "holdId"
            )
        return account, hold

    async def _settle(self, account: Account) -> Settlement | None:
        """Activate matured pending lots and expire due ones; None when nothing was due."""
        now = self.clock.now()
        if account.next_due_at is None or account.next_due_at > now:
            return None
        activated = await self._activate_matured_lots(account, now) if account.pending else 0
        account.pending -= activated
        account.available += activated
        expired, expired_lots = await self._expire_due_lots(account, now)
        if activated:
            await append_event(
                self.conn,
                member_topic(account.member_id),
                "points.available",
                {
                    "member_id": account.member_id,
                    "points": activated,
                    "balance": _balance_payload(account.balance),
                },
            )
        account.next_due_at = await self.conn.scalar(
            select(
                func.least(
                    func.min(lots.c.available_at).filter(lots.c.pending),
                    func.min(lots.c.expires_at),
                )
            ).where(lots.c.account_id == account.id, lots.c.remaining > 0)
        )
        return Settlement(account.member_id, activated, expired, expired_lots)

    async def _activate_matured_lots(self, account: Account, now: datetime) -> int:
        """Pending lots whose time came become available; how many points did. (Skipped when
        the account has no pending points: ``pending`` is the sum of its pending lots.)"""
        matured = await self.conn.scalars(
            lots.update()
            .where(
                lots.c.account_id == account.id,
                lots.c.pending,
                lots.c.available_at <= now,
                lots.c.remaining > 0,
            )
            .values(pending=False)
            .returning(lots.c.remaining)
        )
        return sum(matured.all())

    async def _expire_due_lots(self, account: Account, now: datetime) -> tuple[int, int]:
        """Move what is left of due lots to breakage; (points, lots) expired."""
        rows = await self.conn.execute(
            select(lots.c.id, lots.c.remaining, lots.c.pending, lots.c.expires_at)
            .where(
                lots.c.account_id == account.id,
                lots.c.remaining > 0,
                lots.c.expires_at <= now,
            )
            .order_by(lots.c.id)
        )
        due = [_OpenLot(r.id, r.remaining, r.pending, r.expires_at) for r in rows]
        if not due:
            return 0, 0
        expired = sum(lot.remaining for lot in due)
        for lot in due:
            account.add_to_lot_bucket(lot.pending, -lot.remaining)
        takes = [Take(lot.id, lot.remaining) for lot in due]
        await self._reduce_lots(takes)
        entry = await self._post(
            account,
            EntryKind.EXPIRY,
            -expired,
            debit=account.id,
            credit=programme_account("breakage"),
            reason="points expired",
            actor=Actor("system", "jobs"),
            details={"lots": [{"lot_id": t.source_id, "amount": t.amount} for t in takes]},
        )
        await self._record_allocations(takes, entry_id=entry.id)
        await append_event(
            self.conn,
            member_topic(account.member_id),
            "points.expired",
            {"entry": _entry_payload(entry), "balance": _balance_payload(account.balance)},
        )
        return expired, len(due)

    async def _credit(
        self,
        account: Account,
        amount: int,
        *,
        kind: EntryKind,
        counter_account: str,
        reason: str,
        actor: Actor,
        reference: str | None,
        details: dict[str, Any],
        available_at: datetime | None = None,
        expires_at: datetime | None = None,
        expiry: ExpiryPolicy | None = None,
    ) -> Entry:
        now = self.clock.now()
        available_at = max(available_at or now, now)
        if expires_at is None:
            expires_at = self.policy.expires_at(now, expiry)
        if expires_at is not None and expires_at <= available_at:
            raise invalid("points must expire after they become available", "expiresAt")
        pending = available_at > now
        # A credit first pays off what the member owes from an earlier claw-back.
        paid_off = min(account.debt, amount)
        account.debt -= paid_off
        lot_amount = amount - paid_off
        account.add_to_lot_bucket(pending, lot_amount)
        account.lifetime_earned += amount
        entry = await self._post(
            account,
            kind,
            amount,
            debit=programme_account(counter_account),
            credit=account.id,
            reason=reason,
            actor=actor,
            reference=reference,
            details={**details, "debt_paid": paid_off} if paid_off else details,
        )
        if lot_amount:
            await self.conn.execute(
                lots.insert().values(
                    account_id=account.id,
                    member_id=account.member_id,
                    entry_id=entry.id,
                    amount=lot_amount,
                    remaining=lot_amount,
                    pending=pending,
                    available_at=available_at,
                    expires_at=expires_at,
                    created_at=now,
                )
            )
            account.due_no_later_than(available_at if pending else None)
            account.due_no_later_than(expires_at)
        return entry

    async def _debit(
        self,
        account: Account,
        amount: int,
        *,
        kind: EntryKind,
        counter_account: str,
        reason: str,
        actor: Actor,
        reference: str | None,
    ) -> Entry:
        takes = await self._take_available(account, amount)
        account.available -= amount
        account.lifetime_spent += amount
        entry = await self._post(
            account,
            kind,
            -amount,
            debit=account.id,
            credit=programme_account(counter_account),
            reason=reason,
            actor=actor,
            reference=reference,
        )
        await self._record_allocations(takes, entry_id=entry.id)
        return entry

    async def _take_available(self, account: Account, amount: int) -> list[Take]:
        """Take ``amount`` from the available lots, first to expire first, or refuse."""
        if account.available < amount:
            raise _insufficient(amount, account.available)
        open_lots = await self._open_lots(account.id, available_only=True)
        takes = take_in_order(((lot.id, lot.remaining) for lot in open_lots), amount)
        if total(takes) != amount:  # the lots disagree with the balance: never guess
            raise RuntimeError(f"account {account.id}: lots hold less than its balance")
        await self._reduce_lots(takes)
        return takes

    async def _open_lots(self, account_id: int, *, available_only: bool) -> list[_OpenLot]:
        query = select(lots.c.id, lots.c.remaining, lots.c.pending, lots.c.expires_at).where(
            lots.c.account_id == account_id, lots.c.remaining > 0
        )
        if available_only:
            query = query.where(~lots.c.pending)
        rows = await self.conn.execute(query.order_by(*_spending_order()))
        return [_OpenLot(r.id, r.remaining, r.pending, r.expires_at) for r in rows]

    async def _reduce_lots(self, takes: list[Take]) -> None:
        await self._change_lots(takes, sign=-1)

    async def _change_lots(self, takes: list[Take], *, sign: int) -> None:
        if not takes:
            return
        await self.conn.execute(
            update(lots)
            .where(lots.c.id == bindparam("lot_id"))
            .values(remaining=lots.c.remaining + sign * bindparam("delta")),
            [{"lot_id": t.source_id, "delta": t.amount} for t in takes],
        )

    async def _record_allocations(
        self, takes: list[Take], *, entry_id: int | None = None, hold_id: int | None = None
    ) -> None:
        if takes:
            await self.conn.execute(
                allocations.insert(),
                [
                    {
                        "lot_id": t.source_id,
                        "amount": t.amount,
                        "entry_id": entry_id,
                        "hold_id": hold_id,
                    }
                    for t in takes
                ],
            )

    async def _give_back(self, account: Account, owner: Any, amount: int) -> None:
        """Return ``amount`` to the lots an entry or a hold took, latest-expiring lot first."""
        rows = await self.conn.execute(
            select(
                allocations.c.id,
                allocations.c.lot_id,
                (allocations.c.amount - allocations.c.returned).label("open"),
                lots.c.expires_at,
            )
            .join(lots, lots.c.id == allocations.c.lot_id)
            .where(owner, allocations.c.returned < allocations.c.amount)
            .order_by(allocations.c.id.desc())
        )
        open_allocations = rows.all()
        lot_of = {r.id: r.lot_id for r in open_allocations}
        returns = take_in_order(((r.id, r.open) for r in open_allocations), amount)
        if total(returns) != amount:
            raise RuntimeError(f"account {account.id}: allocations hold less than {amount}")
        await self.conn.execute(
            update(allocations)
            .where(allocations.c.id == bindparam("allocation_id"))
            .values(returned=allocations.c.returned + bindparam("delta")),
            [{"allocation_id": r.source_id, "delta": r.amount} for r in returns],
        )
        await self._change_lots([Take(lot_of[r.source_id], r.amount) for r in returns], sign=1)
        for r in open_allocations:
            account.due_no_later_than(r.expires_at)

    async def _claw_back(
        self,
        account: Account,
        original: Entry,
        amount: int,
        mirror: tuple[int, int],
        reason: str,
        actor: Actor,
    ) -> Entry:
        candidates = await self._open_lots(account.id, available_only=False)
        # The credit's own lot first, then available before pending, each by spending order.
        own = await self.conn.scalars(select(lots.c.id).where(lots.c.entry_id == original.id))
        own_ids = set(own.all())
        candidates.sort(key=lambda lot: (lot.id not in own_ids, lot.pending))
        takes = take_in_order(((lot.id, lot.remaining) for lot in candidates), amount)
        pending_of = {lot.id: lot.pending for lot in candidates}
        await self._reduce_lots(takes)
        for take in takes:
            account.add_to_lot_bucket(pending_of[take.source_id], -take.amount)
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
        entry = await self._post(
            account,
            EntryKind.REVERSAL,
            -clawed,
            debit=mirror[1],
            credit=mirror[0],
            reason=reason,
            actor=actor,
            reference=original.reference,
            reverses_entry_id=original.id,
            details=details,
        )
        await self._record_allocations(takes, entry_id=entry.id)
        return entry

    async def _return_debit(
        self,
        account: Account,
        original: Entry,
        amount: int,
        mirror: tuple[int, int],
        reason: str,
        actor: Actor,
    ) -> Entry:
        await self._give_back(account, allocations.c.entry_id == original.id, amount)
        account.available += amount
        account.lifetime_spent -= amount
        return await self._post(
            account,
            EntryKind.REVERSAL,
            amount,
            debit=mirror[1],
            credit=mirror[0],
            reason=reason,
            actor=actor,
            reference=original.reference,
            reverses_entry_id=original.id,
        )

    async def _transfer_sides(self, entry_id: int) -> tuple[int, int]:
        row = (
            await self.conn.execute(
                select(transfers.c.debit_account_id, transfers.c.credit_account_id).where(
                    transfers.c.entry_id == entry_id
                )
            )
        ).one()
        return row.debit_account_id, row.credit_account_id

    async def _post(
        self,
        account: Account,
        kind: EntryKind,
        amount: int,
        *,
        debit: Any,
        credit: Any,
        reason: str,
        actor: Actor,
        reference: str | None = None,
        reverses_entry_id: int | None = None,
        hold_id: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> Entry:
        """Write the journal entry and its transfer (none when nothing moved), in one statement:
        the transfer is inserted from the entry's CTE."""
        now = self.clock.now()
        posted = (
            entries.insert()
            .values(
                member_id=account.member_id,
                kind=kind.value,
                amount=amount,
                balance_after=account.balance.total,
                reason=reason,
                source=actor.source,
                reference=reference,
                actor=actor.principal,
                created_by_kind=actor.kind,
                created_by_channel=actor.partner_channel,
                reverses_entry_id=reverses_entry_id,
                hold_id=hold_id,
                details=details or {},
                created_at=now,
            )
            .returning(*entries.c)
            .cte("posted")
        )
        statement = select(posted)
        if amount:
            sides = select(
                posted.c.id,
                _account_id(debit),
                _account_id(credit),
                literal(abs(amount), BigInteger),
                literal(now, transfers.c.created_at.type),
            )
            moved = transfers.insert().from_select(
                ["entry_id", "debit_account_id", "credit_account_id", "amount", "created_at"],
                sides,
            )
            statement = statement.add_cte(moved.cte("moved"))
        entry = _entry((await self.conn.execute(statement)).one())
        after_commit(lambda: _count_posting(kind, amount))
        return entry

    async def _settle_hold(
        self, hold: Hold, status: HoldStatus, *, commit_entry_id: int | None = None
    ) -> Hold:
        row = (
            await self.conn.execute(
                holds.update()
                .where(holds.c.id == hold.id)
                .values(
                    status=status.value,
                    settled_at=self.clock.now(),
                    commit_entry_id=commit_entry_id,
                )
                .returning(*holds.c)
            )
        ).one()
        return _hold(row)

    async def _finish(
        self,
        account: Account,
        event_type: str | None,
        *,
        entry: Entry | None = None,
        hold: Hold | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Save the account's balances and append the event, in this transaction."""
        posted.record(account.member_id, account.balance)
        await save(self.conn, account)
        if event_type is None:  # settling: its own events (expired, available) are written
            return
        payload: dict[str, Any] = {
            "member_id": account.member_id,
            "balance": _balance_payload(account.balance),
            **(extra or {}),
        }
        if entry is not None:
            payload["entry"] = _entry_payload(entry)
        if hold is not None:
            payload["hold"] = _hold_payload(hold)
        await append_event(self.conn, member_topic(account.member_id), event_type, payload)


def _balance_payload(balance: Balance) -> dict[str, int]:
    return {
        "available": balance.available,
        "pending": balance.pending,
        "held": balance.held,
        "debt": balance.debt,
        "total": balance.total,
    }


def _entry_payload(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "kind": entry.kind.value,
        "amount": entry.amount,
        "balance_after": entry.balance_after,
        "reason": entry.reason,
        "source": entry.source,
        "reference": entry.reference,
        "reverses_entry_id": entry.reverses_entry_id,
        "created_at": entry.created_at.isoformat(),
    }


def _hold_payload(hold: Hold) -> dict[str, Any]:
    return {
        "id": hold.id,
        "amount": hold.amount,
        "status": hold.status.value,
        "reference": hold.reference,
        "expires_at": hold.expires_at.isoformat(),
    }


def _count_posting(kind: EntryKind, amount: int) -> None:
    metrics.ledger_postings.labels(kind.value).inc()
    metrics.ledger_points.labels(kind.value).inc(abs(amount))
