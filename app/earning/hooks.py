"""What earning announces to the domains above it (engagement: tasks, referrals, win-back).

Announced inside the unit of work that recorded the purchase or event, under the member's
account lock, after earning's own writes: what a listener writes commits with the purchase or
not at all. A replayed request (same order or event id) announces nothing. Listeners register
when their package is imported (app/hooks.py); earning imports none of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CTE, Row, null
from sqlalchemy.ext.asyncio import AsyncConnection

from app.earning.rules import Rule
from app.hooks import Hook
from app.ledger.accounts import AccountLock
from app.ledger.models import Actor
from app.runtime import Runtime

# A listener's read riding on a purchase's credit statement: the CTEs it adds and the one whose
# one row comes back beside the purchase's (module-level: the statement is built once for it).
RideBuild = Callable[[], tuple[list[CTE], CTE]]


@dataclass
class PurchaseRide:
    """What the listener of :data:`PURCHASE_RECORDED` will read once the purchase is placed,
    read instead in the purchase's credit statement (issue 21: one round trip less on every
    purchase that earns; engagement's task progress, app/engagement/tracker.py). Its CTEs must
    not depend on what the credit writes (they share its snapshot), and its parameters and
    CTEs are named apart from the ledger's and the purchase's. ``row`` is the credit's row
    once it ran (None: no credit carried it, e.g. a purchase that earns nothing: the listener
    reads for itself); ``state`` is the listener's own."""

    build: RideBuild
    params: Mapping[str, Any]
    state: Any = None
    row: Row[Any] | None = field(default=None, init=False)


@dataclass(frozen=True)
class PurchaseRecorded:
    member_id: int
    occurred_at: datetime
    amount: Decimal
    points: int
    categories: frozenset[str]
    first: bool  # the member's first purchase (only that one may pay a referral)
    # The member's account lock the purchase holds, renewed by its credit: what a listener's
    # earn for this member adopts (one lock and one status read for the whole transaction).
    account: AccountLock | None = None
    ride: PurchaseRide | None = None  # what the listener's read rode on (PURCHASE_RIDES)


@dataclass(frozen=True)
class EventRecorded:
    member_id: int
    name: str
    occurred_at: datetime
    quantity: Decimal
    points: int
    account: AccountLock | None = None  # as PurchaseRecorded's


PURCHASE_RECORDED: Hook[[Runtime, AsyncConnection, Actor, PurchaseRecorded]] = Hook(
    "earning.purchase_recorded"
)
EVENT_RECORDED: Hook[[Runtime, AsyncConnection, Actor, EventRecorded]] = Hook(
    "earning.event_recorded"
)


class PurchaseRides:
    """Who reads something on every purchase that a purchase's credit may carry
    (:class:`PurchaseRide`): engagement's task progress, provided when engagement is imported.
    Asked before the credit with the purchase as it will be recorded (its figures from the
    basket and the outcome); without a provider nothing rides."""

    def __init__(self) -> None:
        self._ride: Callable[[Runtime, PurchaseRecorded], PurchaseRide | None] | None = None

    def provide(self, ride: Callable[[Runtime, PurchaseRecorded], PurchaseRide | None]) -> None:
        self._ride = ride

    def __call__(self, rt: Runtime, purchase: PurchaseRecorded) -> PurchaseRide | None:
        return None if self._ride is None else self._ride(rt, purchase)


PURCHASE_RIDES = PurchaseRides()

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


@dataclass(frozen=True)
class PointsChoice:
    """A number of points decided for one member that an experiment's variant may change: the
    points a task pays (``kind`` "task_reward", ``code`` the task's) or a mall item's points
    price ("item_price", the item's code). ``generation`` is :meth:`PointsOverrides.generation`
    as read in this transaction (None: do not trust a cache); ``assign``: this decision is the
    member's exposure (False: a preview, e.g. browsing the catalogue, writes nothing)."""

    kind: str
    code: str
    programme: int  # the programme's points
    member_id: int
    segment: str | None
    generation: str | None
    now: datetime
    assign: bool


@dataclass(frozen=True)
class PointsOverride:
    points: int
    variant: str | None = None  # "<experiment code>:<variant code>" when a variant decided it


class PointsOverrides:
    """Who may change a task's reward or an item's price for one member (experiments: the
    member's variant's, app/experiments/overrides.py). Declared here, below engagement and the
    mall, which both ask; provided by experiments when imported. Without a provider everyone
    gets the programme's points."""

    def __init__(self) -> None:
        self._generation: Callable[[], Any] | None = None
        self._choose: Callable[[AsyncConnection, PointsChoice], Awaitable[PointsOverride]] | None
        self._choose = None

    def provide(
        self,
        generation: Callable[[], Any],
        choose: Callable[[AsyncConnection, PointsChoice], Awaitable[PointsOverride]],
    ) -> None:
        self._generation, self._choose = generation, choose

    def generation(self) -> Any:
        """A scalar subquery to fold into a statement the caller runs anyway (no round trip):
        what the provider caches its plan by. NULL without a provider."""
        return null() if self._generation is None else self._generation()

    async def __call__(self, conn: AsyncConnection, choice: PointsChoice) -> PointsOverride:
        if self._choose is None:
            return PointsOverride(choice.programme)
        return await self._choose(conn, choice)


POINTS_OVERRIDES = PointsOverrides()
