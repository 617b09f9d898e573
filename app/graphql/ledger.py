"""Points: balances, entries, lots and holds, and the mutations that move points.

Each mutation takes one ``input`` with an ``idempotencyKey`` and returns a union of its success
payload and :class:`MutationError`. Resolvers only check permissions, translate GraphQL values
and call :mod:`app.ledger.usecases`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from app.auth.permissions import Subject
from app.errors import invalid
from app.graphql.breakdown import PointsBreakdown
from app.graphql.context import Context, Info
from app.graphql.errors import MutationError, refusal_as_payload
from app.graphql.fields import described_field, described_mutation
from app.graphql.pagination import parse_id
from app.ledger import posted, usecases
from app.ledger.models import Balance, Entry, EntryKind, Hold, HoldStatus, Lot

strawberry.enum(EntryKind, name="EntryKind")
strawberry.enum(HoldStatus, name="HoldStatus")


def _id(value: int | None) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(str(value))


@strawberry.type(name="Balance", description="Points of one member, as of now.")
class BalanceNode:
    available: int = strawberry.field(description="Spendable now.")
    pending: int = strawberry.field(description="Earned, not yet available.")
    held: int = strawberry.field(description="Reserved by active holds.")
    debt: int = strawberry.field(description="Owed after a claw-back; later credits pay it.")
    total: int = strawberry.field(description="available + pending + held - debt.")

    @classmethod
    def of(cls, balance: Balance) -> BalanceNode:
        return cls(
            available=balance.available,
            pending=balance.pending,
            held=balance.held,
            debt=balance.debt,
            total=balance.total,
        )


@strawberry.type(name="Entry", description="One posted movement in a member's history.")
class EntryNode:
    id: strawberry.ID
    member_id: strawberry.ID
    kind: EntryKind
    amount: int = strawberry.field(description="Signed change to the posted balance.")
    balance_after: int
    reason: str
    source: str = strawberry.field(description="The channel the request came through.")
    reference: str | None
    actor: str = strawberry.field(description="Who asked: member:<id>, staff:<name>, …")
    reverses_entry_id: strawberry.ID | None
    reversed_amount: int = strawberry.field(description="How much of it was reversed since.")
    hold_id: strawberry.ID | None
    created_at: datetime
    details: strawberry.Private[dict[str, Any]]

    @described_field("For an earning by the rules: which rule gave how much.")
    def breakdown(self) -> PointsBreakdown | None:
        return PointsBreakdown.of(self.details) if "rules" in self.details else None

    @classmethod
    def of(cls, entry: Entry) -> EntryNode:
        return cls(
            id=strawberry.ID(str(entry.id)),
            member_id=strawberry.ID(str(entry.member_id)),
            kind=entry.kind,
            amount=entry.amount,
            balance_after=entry.balance_after,
            reason=entry.reason,
            source=entry.source,
            reference=entry.reference,
            actor=entry.actor,
            reverses_entry_id=_id(entry.reverses_entry_id),
            reversed_amount=entry.reversed_amount,
            hold_id=_id(entry.hold_id),
            created_at=entry.created_at,
            details=entry.details,
        )


@strawberry.type(name="Hold", description="Points reserved until committed or voided.")
class HoldNode:
    id: strawberry.ID
    member_id: strawberry.ID
    amount: int
    status: HoldStatus
    reason: str
    source: str
    reference: str | None
    expires_at: datetime
    created_at: datetime
    settled_at: datetime | None
    commit_entry_id: strawberry.ID | None

    @classmethod
    def of(cls, hold: Hold) -> HoldNode:
        return cls(
            id=strawberry.ID(str(hold.id)),
            member_id=strawberry.ID(str(hold.member_id)),
            amount=hold.amount,
            status=hold.status,
            reason=hold.reason,
            source=hold.source,
            reference=hold.reference,
            expires_at=hold.expires_at,
            created_at=hold.created_at,
            settled_at=hold.settled_at,
            commit_entry_id=_id(hold.commit_entry_id),
        )


@strawberry.type(name="Lot", description="Points from one credit, spent in expiry order.")
class LotNode:
    id: strawberry.ID
    entry_id: strawberry.ID
    amount: int
    remaining: int
    pending: bool
    available_at: datetime
    expires_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, lot: Lot) -> LotNode:
        return cls(
            id=strawberry.ID(str(lot.id)),
            entry_id=strawberry.ID(str(lot.entry_id)),
            amount=lot.amount,
            remaining=lot.remaining,
            pending=lot.pending,
            available_at=lot.available_at,
            expires_at=lot.expires_at,
            created_at=lot.created_at,
        )


# ------------------------------------------------------------------------------------ payloads


@strawberry.type(description="Points were posted; the balance is as of right after.")
class PointsPosted:
    entry: EntryNode
    balance: BalanceNode


@strawberry.type(description="A hold was placed or released; the balance is as of right after.")
class HoldPayload:
    hold: HoldNode
    balance: BalanceNode


EarnPointsResult = Annotated[PointsPosted | MutationError, strawberry.union("EarnPointsResult")]
SpendPointsResult = Annotated[PointsPosted | MutationError, strawberry.union("SpendPointsResult")]
HoldPointsResult = Annotated[HoldPayload | MutationError, strawberry.union("HoldPointsResult")]
CommitHoldResult = Annotated[PointsPosted | MutationError, strawberry.union("CommitHoldResult")]
VoidHoldResult = Annotated[HoldPayload | MutationError, strawberry.union("VoidHoldResult")]
ReverseEntryResult = Annotated[PointsPosted | MutationError, strawberry.union("ReverseEntryResult")]
AdjustPointsResult = Annotated[PointsPosted | MutationError, strawberry.union("AdjustPointsResult")]


# -------------------------------------------------------------------------------------- inputs

KEY_HELP = "Unique per caller; a retry with the same key returns the first result."


@strawberry.input
class EarnPointsInput:
    member_id: strawberry.ID
    amount: int = strawberry.field(description="Positive, at most the per-operation maximum.")
    reason: str
    idempotency_key: str = strawberry.field(description=KEY_HELP)
    reference: str | None = None
    available_at: datetime | None = strawberry.field(
        default=None, description="When the points become spendable (pending until then)."
    )
    expires_at: datetime | None = strawberry.field(
        default=None, description="Defaults to the programme's expiry policy."
    )


@strawberry.input
class SpendPointsInput:
    member_id: strawberry.ID
    amount: int
    reason: str
    idempotency_key: str = strawberry.field(description=KEY_HELP)
    reference: str | None = None


@strawberry.input
class HoldPointsInput:
    member_id: strawberry.ID
    amount: int
    reason: str
    idempotency_key: str = strawberry.field(description=KEY_HELP)
    reference: str | None = None
    expires_at: datetime | None = strawberry.field(
        default=None, description="When an uncommitted hold is voided by itself."
    )


@strawberry.input
class CommitHoldInput:
    hold_id: strawberry.ID
    idempotency_key: str = strawberry.field(description=KEY_HELP)


@strawberry.input
class VoidHoldInput:
    hold_id: strawberry.ID
    reason: str
    idempotency_key: str = strawberry.field(description=KEY_HELP)


@strawberry.input
class ReverseEntryInput:
    entry_id: strawberry.ID
    reason: str
    idempotency_key: str = strawberry.field(description=KEY_HELP)
    amount: int | None = strawberry.field(
        default=None, description="Part of the entry to reverse; the rest of it when omitted."
    )


@strawberry.input
class AdjustPointsInput:
    member_id: strawberry.ID
    amount: int = strawberry.field(description="Signed: positive credits, negative debits.")
    reason: str
    idempotency_key: str = strawberry.field(description=KEY_HELP)


# ------------------------------------------------------------------------------------- helpers


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise invalid("give a time zone offset (e.g. 2026-11-23T10:00:00+08:00)", field)
    return value


async def balance_after_write(ctx: Context, member_id: int) -> BalanceNode:
    """The balance a write's answer shows: as the write's own transaction left it, so a
    committed write is never answered with an error by a re-read failing after the commit.
    Only an idempotent replay (nothing written now) reads it, as of now."""
    ctx.loaders.forget_member(member_id)
    written = posted.take(member_id)
    if written is not None:
        return BalanceNode.of(written)
    return BalanceNode.of(await ctx.loaders.balance.load(member_id))


async def _posted(ctx: Context, entry: Entry) -> PointsPosted:
    return PointsPosted(
        entry=EntryNode.of(entry), balance=await balance_after_write(ctx, entry.member_id)
    )


async def _held(ctx: Context, hold: Hold) -> HoldPayload:
    return HoldPayload(
        hold=HoldNode.of(hold), balance=await balance_after_write(ctx, hold.member_id)
    )


async def _require_on_hold(ctx: Context, operation: str, hold_id: int) -> None:
    """Partners may settle only holds their channel placed; staff any (the ledger 404s)."""

    async def owner() -> Subject:
        hold = await usecases.get_hold(ctx.runtime, hold_id)
        return Subject.created_by(hold.member_id, hold.created_by_channel)

    await ctx.require_on_target(operation, hold_id, "holdId", owner)


async def _require_on_entry(ctx: Context, operation: str, entry_id: int) -> None:
    async def owner() -> Subject:
        entry = await usecases.get_entry(ctx.runtime, entry_id)
        return Subject.created_by(entry.member_id, entry.created_by_channel)

    await ctx.require_on_target(operation, entry_id, "entryId", owner)


# ----------------------------------------------------------------------------------- mutations


@strawberry.type
class LedgerMutations:
    @described_mutation("Credit points to a member (generic earn with a reason).")
    async def earn_points(self, info: Info, input: EarnPointsInput) -> EarnPointsResult:
        ctx = info.context

        async def run() -> PointsPosted:
            ctx.require("earnPoints")  # who may call at all comes before what the input says
            member_id = parse_id(input.member_id, "memberId")
            await ctx.require_on_member("earnPoints", member_id)
            entry = await usecases.earn_points(
                ctx.runtime,
                ctx.principal.to_actor(),
                member_id=member_id,
                amount=input.amount,
                reason=input.reason,
                idempotency_key=input.idempotency_key,
                reference=input.reference,
                available_at=_aware(input.available_at, "availableAt"),
                expires_at=_aware(input.expires_at, "expiresAt"),
            )
            return await _posted(ctx, entry)

        return await refusal_as_payload(run)

    @described_mutation("Debit available points, oldest-expiring first.")
    async def spend_points(self, info: Info, input: SpendPointsInput) -> SpendPointsResult:
        ctx = info.context

        async def run() -> PointsPosted:
            ctx.require("spendPoints")  # who may call at all comes before what the input says
            member_id = parse_id(input.member_id, "memberId")
            await ctx.require_on_member("spendPoints", member_id)
            entry = await usecases.spend_points(
                ctx.runtime,
                ctx.principal.to_actor(),
                member_id=member_id,
                amount=input.amount,
                reason=input.reason,
                idempotency_key=input.idempotency_key,
                reference=input.reference,
            )
            return await _posted(ctx, entry)

        return await refusal_as_payload(run)

    @described_mutation("Reserve points; commit or void the hold later.")
    async def hold_points(self, info: Info, input: HoldPointsInput) -> HoldPointsResult:
        ctx = info.context

        async def run() -> HoldPayload:
            ctx.require("holdPoints")  # who may call at all comes before what the input says
            member_id = parse_id(input.member_id, "memberId")
            await ctx.require_on_member("holdPoints", member_id)
            hold = await usecases.hold_points(
                ctx.runtime,
                ctx.principal.to_actor(),
                member_id=member_id,
                amount=input.amount,
                reason=input.reason,
                idempotency_key=input.idempotency_key,
                reference=input.reference,
                expires_at=_aware(input.expires_at, "expiresAt"),
            )
            return await _held(ctx, hold)

        return await refusal_as_payload(run)

    @described_mutation("Turn an active hold into a spend.")
    async def commit_hold(self, info: Info, input: CommitHoldInput) -> CommitHoldResult:
        ctx = info.context

        async def run() -> PointsPosted:
            ctx.require("commitHold")
            hold_id = parse_id(input.hold_id, "holdId")
            await _require_on_hold(ctx, "commitHold", hold_id)
            entry = await usecases.commit_hold(
                ctx.runtime,
                ctx.principal.to_actor(),
                hold_id=hold_id,
                idempotency_key=input.idempotency_key,
            )
            return await _posted(ctx, entry)

        return await refusal_as_payload(run)

    @described_mutation("Release an active hold: the points return to their lots.")
    async def void_hold(self, info: Info, input: VoidHoldInput) -> VoidHoldResult:
        ctx = info.context

        async def run() -> HoldPayload:
            ctx.require("voidHold")
            hold_id = parse_id(input.hold_id, "holdId")
            await _require_on_hold(ctx, "voidHold", hold_id)
            hold = await usecases.void_hold(
                ctx.runtime,
                ctx.principal.to_actor(),
                hold_id=hold_id,
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            )
            return await _held(ctx, hold)

        return await refusal_as_payload(run)

    @described_mutation("Reverse an earn (claw back) or a spend (points return).")
    async def reverse_entry(self, info: Info, input: ReverseEntryInput) -> ReverseEntryResult:
        ctx = info.context

        async def run() -> PointsPosted:
            ctx.require("reverseEntry")
            entry_id = parse_id(input.entry_id, "entryId")
            await _require_on_entry(ctx, "reverseEntry", entry_id)
            entry = await usecases.reverse_entry(
                ctx.runtime,
                ctx.principal.to_actor(),
                entry_id=entry_id,
                reason=input.reason,
                idempotency_key=input.idempotency_key,
                amount=input.amount,
            )
            return await _posted(ctx, entry)

        return await refusal_as_payload(run)

    @described_mutation("Staff correction, credit or debit, with a mandatory reason.")
    async def adjust_points(self, info: Info, input: AdjustPointsInput) -> AdjustPointsResult:
        ctx = info.context

        async def run() -> PointsPosted:
            ctx.require("adjustPoints")  # who may call at all comes before what the input says
            member_id = parse_id(input.member_id, "memberId")
            await ctx.require_on_member("adjustPoints", member_id)
            entry = await usecases.adjust_points(
                ctx.runtime,
                ctx.principal.to_actor(),
                member_id=member_id,
                amount=input.amount,
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            )
            return await _posted(ctx, entry)

        return await refusal_as_payload(run)
