"""What the ledger hands back: plain, immutable values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class EntryKind(StrEnum):
    EARN = "earn"
    SPEND = "spend"
    REVERSAL = "reversal"
    ADJUSTMENT = "adjustment"
    EXPIRY = "expiry"
    GIFT_SENT = "gift_sent"  # to another member (through the gifts clearing account)
    GIFT_RECEIVED = "gift_received"  # from another member, keeping the source lots' expiry
    EXCHANGE_IN = "exchange_in"  # converted from a partner programme's points
    EXCHANGE_OUT = "exchange_out"  # converted to a partner programme's points


# Kinds that reverseEntry refuses: their other side is another member or a partner's ledger;
# staff correct them with an adjustment.
NOT_REVERSIBLE = frozenset(
    {
        EntryKind.REVERSAL,
        EntryKind.EXPIRY,
        EntryKind.GIFT_SENT,
        EntryKind.GIFT_RECEIVED,
        EntryKind.EXCHANGE_IN,
        EntryKind.EXCHANGE_OUT,
    }
)


class MemberStatus(StrEnum):
    """A member's status. Members own it (``members.status``, changed under the account lock);
    the ledger reads it under that lock and its rules give it meaning for points
    (docs/LEDGER.md "Member status")."""

    ACTIVE = "active"
    FROZEN = "frozen"
    CLOSED = "closed"


class HoldStatus(StrEnum):
    ACTIVE = "active"
    COMMITTED = "committed"
    VOIDED = "voided"


@dataclass(frozen=True)
class Balance:
    available: int
    pending: int
    held: int
    debt: int

    @property
    def total(self) -> int:
        """The posted balance: what the member owns, held points included, debt deducted."""
        return self.available + self.pending + self.held - self.debt


@dataclass(frozen=True)
class Entry:
    """One posted movement in a member's history."""

    id: int
    member_id: int
    kind: EntryKind
    amount: int
    balance_after: int
    reason: str
    source: str
    reference: str | None
    actor: str
    created_by_kind: str  # who created it, structured: see Actor.kind
    created_by_channel: str | None  # the partner channel that created it; None for others
    reverses_entry_id: int | None
    reversed_amount: int
    hold_id: int | None
    details: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class Hold:
    id: int
    member_id: int
    amount: int
    status: HoldStatus
    reason: str
    source: str
    reference: str | None
    created_by_kind: str
    created_by_channel: str | None
    expires_at: datetime
    created_at: datetime
    settled_at: datetime | None
    commit_entry_id: int | None


@dataclass(frozen=True)
class Lot:
    id: int
    member_id: int
    entry_id: int
    amount: int
    remaining: int
    pending: bool
    available_at: datetime
    expires_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class Actor:
    """Who asks for a write and through which channel: recorded on every entry."""

    principal: str  # e.g. "staff:alice", "member:42", "partner:pos-1", "system"
    source: str = "api"  # the channel the request came through: free text, shown, never trusted
    roles: frozenset[str] = field(default_factory=frozenset)
    # Who it is, structured: "member" | "staff" | "partner" | "system". Ownership checks read
    # this and ``partner_channel``, never ``source`` (a partner channel may be named anything).
    kind: str = "system"
    partner_channel: str | None = None  # set for partners only: the channel the key acts for
