"""Points: balances, entries, lots and holds, and the payloads of the mutations that move them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from app.graphql.core.fields import described_field, optional_id
from app.graphql.core.mutations import result_union
from app.graphql.earning.breakdown import PointsBreakdown
from app.graphql.ledger.enums import EntryKind, HoldStatus
from app.ledger.models import Balance, Entry, Hold, Lot


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
            reverses_entry_id=optional_id(entry.reverses_entry_id),
            reversed_amount=entry.reversed_amount,
            hold_id=optional_id(entry.hold_id),
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
            commit_entry_id=optional_id(hold.commit_entry_id),
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


@strawberry.type(description="Points were posted; the balance is as of right after.")
class PointsPosted:
    entry: EntryNode
    balance: BalanceNode


# What earnPoints answers, and each item of earnPointsBatch.
EarnPointsResult = result_union("EarnPointsResult", PointsPosted)


@strawberry.type(
    description="A batch of earns: each item's own outcome, in the input's order (a refused "
    "item changed nothing, and nothing of its neighbours)."
)
class EarnBatchPosted:
    results: list[EarnPointsResult]  # type: ignore[valid-type]
    posted: int = strawberry.field(description="Items answered with their entry (replays too).")
    refused: int = strawberry.field(description="Items answered with a MutationError.")


@strawberry.type(description="A hold was placed or released; the balance is as of right after.")
class HoldPayload:
    hold: HoldNode
    balance: BalanceNode
