"""Earning's values: what a use case answers, and what it read of the member under the lock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row

from app.ledger.accounts import AccountLock
from app.ledger.models import Entry
from app.tiers.policy import TierChange


@dataclass(frozen=True)
class PurchaseRecord:
    id: int
    member_id: int
    channel: str
    order_id: str
    amount: Decimal
    refunded_amount: Decimal
    points: int
    clawed_back: int
    entry_id: int | None
    breakdown: dict[str, Any]
    occurred_at: datetime

    @classmethod
    def of(cls, row: Row[Any]) -> PurchaseRecord:
        return cls(
            id=row.id,
            member_id=row.member_id,
            channel=row.channel,
            order_id=row.order_id,
            amount=Decimal(row.amount),
            refunded_amount=Decimal(row.refunded_amount),
            points=row.points,
            clawed_back=row.clawed_back,
            entry_id=row.entry_id,
            breakdown=row.breakdown,
            occurred_at=row.occurred_at,
        )


@dataclass(frozen=True)
class PurchaseResult:
    purchase: PurchaseRecord
    entry: Entry | None
    tier_change: TierChange | None
    replayed: bool
    first: bool = False  # the member's first purchase


@dataclass(frozen=True)
class RefundResult:
    id: int
    purchase: PurchaseRecord
    amount: Decimal
    points: int  # clawed back by this refund
    entry: Entry | None
    replayed: bool


@dataclass(frozen=True)
class EventResult:
    id: int
    member_id: int
    name: str
    points: int
    entry: Entry | None
    breakdown: dict[str, Any]
    replayed: bool


@dataclass(frozen=True)
class MemberSnapshot:
    """What the rules need to know of the member, read in one statement (app/earning/store.py)."""

    status: str
    birthday: date | None
    has_purchases: bool
    birthday_set_at: datetime | None = None
    known_categories: frozenset[str] = frozenset()
    counters: dict[str, int] = field(default_factory=dict)
    recorded_purchase_id: int | None = None
    segment: str | None = None  # the member's RFM segment, as of the last segmentation run
    rules_generation: str | None = None
    counter_keys: frozenset[str] = frozenset()  # the counters asked for
    # The account locked before this read, for the one ledger write that follows.
    account: AccountLock | None = None
