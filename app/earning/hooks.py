"""What earning announces to the domains above it (engagement: tasks, referrals, win-back).

Announced inside the unit of work that recorded the purchase or event, under the member's
account lock, after earning's own writes: what a listener writes commits with the purchase or
not at all. A replayed request (same order or event id) announces nothing. Listeners register
when their package is imported (app/hooks.py); earning imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from app.hooks import Hook
from app.ledger.models import Actor
from app.runtime import Runtime


@dataclass(frozen=True)
class PurchaseRecorded:
    member_id: int
    occurred_at: datetime
    amount: Decimal
    points: int
    categories: frozenset[str]
    first: bool  # the member's first purchase (only that one may pay a referral)


@dataclass(frozen=True)
class EventRecorded:
    member_id: int
    name: str
    occurred_at: datetime
    quantity: Decimal
    points: int


PURCHASE_RECORDED: Hook[[Runtime, AsyncConnection, Actor, PurchaseRecorded]] = Hook(
    "earning.purchase_recorded"
)
EVENT_RECORDED: Hook[[Runtime, AsyncConnection, Actor, EventRecorded]] = Hook(
    "earning.event_recorded"
)
