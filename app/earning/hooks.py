"""What earning announces to the domains above it (engagement: tasks, referrals, win-back).

Announced inside the unit of work that recorded the purchase or event, under the member's
account lock, after earning's own writes: what a listener writes commits with the purchase or
not at all. A replayed request (same order or event id) announces nothing. Listeners register
when their package is imported (app/hooks.py); earning imports none of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from app.earning.rules import Rule
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

# Staff are about to change (update, enable or disable) an earning rule through earning's use
# cases: a listener refuses with a DomainError when the rule is not the programme's to change
# (an experiment's variant rule while it runs). The experiments' own switches do not pass here.
RULE_CHANGING: Hook[[AsyncConnection, int]] = Hook("earning.rule_changing")


@dataclass(frozen=True)
class RuleChoice:
    """Whose rules are being chosen: the member, its RFM segment as the snapshot read it, the
    rules table's ``generation`` read in this transaction (a chooser may cache by it; None: do
    not trust a cache), the write's time, and whether it may write (False for a preview)."""

    member_id: int
    generation: str | None
    segment: str | None
    now: datetime
    assign: bool


RuleChooser = Callable[[AsyncConnection, RuleChoice, list[Rule]], Awaitable[list[Rule]]]


class RuleChoosers:
    """Who narrows the enabled rules down to the rules one member earns by (experiments give
    each variant's members their variant's rules: app/experiments/chooser.py). Called under the
    member's lock, after the rules are read and before the pure engine runs, so the engine
    never knows of experiments. With no chooser registered, every member earns by every rule."""

    def __init__(self) -> None:
        self._choosers: list[RuleChooser] = []

    def register(self, chooser: RuleChooser) -> None:
        if chooser not in self._choosers:
            self._choosers.append(chooser)

    async def __call__(
        self, conn: AsyncConnection, choice: RuleChoice, rules: list[Rule]
    ) -> list[Rule]:
        for chooser in self._choosers:
            rules = await chooser(conn, choice, rules)
        return rules


RULE_CHOOSERS = RuleChoosers()
