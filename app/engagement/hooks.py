"""Where engagement hears about activity: called inside the transaction that recorded it.

Earning announces purchases and events through its hooks (app/earning/hooks.py; this package
registers these listeners when imported) and check-ins call :func:`signed_in`, after their own
work, in the same unit of work and under the member's account lock: task progress, referral
and win-back rewards commit with the purchase, event or sign-in, or not at all. A replayed
request (same order or event id) does not call them again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.clock import business_date
from app.config import Settings
from app.earning.hooks import EventRecorded, PurchaseRecorded, PurchaseRide
from app.engagement.activity import pay_winback
from app.engagement.referrals import Referrals
from app.engagement.tasks import Occurrence, TaskTrigger
from app.engagement.tracker import Fed, RidingRead, TaskTracker, riding_read
from app.ledger.models import Actor
from app.runtime import Runtime


def _with_points(occurrence: Occurrence, points: int) -> list[Occurrence]:
    """What happened, and the points it earned: they feed the points tasks ("earn N points
    this month")."""
    if points > 0:
        return [occurrence, Occurrence(TaskTrigger.POINTS, occurrence.day, points=points)]
    return [occurrence]


async def _feed(
    tracker: TaskTracker,
    member_id: int,
    occurrence: Occurrence,
    points: int,
    actor: Actor,
    *,
    referral: bool = False,
    ridden: tuple[RidingRead, Row[Any]] | None = None,
) -> Fed:
    """``ridden``: the progress read already done in the purchase's credit statement, and the
    row it came back in."""
    occurrences = _with_points(occurrence, points)
    if ridden is None:
        now, read = tracker.clock.now(), None
    else:
        riding, row = ridden
        now, read = riding.active_at, riding.ridden(row)
    fed = await tracker.feed(
        member_id, occurrences, actor=actor, active_at=now, referral=referral, read=read
    )
    await pay_winback(
        tracker.rewards, tracker.settings, member_id, now, fed.last_active, actor=actor
    )
    return fed


def _purchase(settings: Settings, purchase: PurchaseRecorded) -> Occurrence:
    day = business_date(purchase.occurred_at, settings.timezone)
    return Occurrence(
        TaskTrigger.PURCHASE, day, amount=purchase.amount, categories=purchase.categories
    )


def purchase_ride(rt: Runtime, purchase: PurchaseRecorded) -> PurchaseRide:
    """The progress read of :func:`purchase_recorded`, to ride on the purchase's credit (issue
    21): the same keys, the activity noted, the pending referral read on a first purchase."""
    occurrences = _with_points(_purchase(rt.settings, purchase), purchase.points)
    riding = riding_read(purchase.member_id, occurrences, rt.clock.now(), referral=purchase.first)
    return PurchaseRide(riding.build, riding.params, state=riding)


async def purchase_recorded(
    rt: Runtime, conn: AsyncConnection, actor: Actor, purchase: PurchaseRecorded
) -> None:
    tracker = TaskTracker(conn, rt.clock, rt.settings)
    tracker.rewards.held = purchase.account  # the rewards' earns adopt the purchase's lock
    occurrence = _purchase(rt.settings, purchase)
    # A first purchase may pay a referral: its pending referral is read with the progress.
    first = purchase.first
    ride = purchase.ride
    ridden = None if ride is None or ride.row is None else (ride.state, ride.row)
    fed = await _feed(
        tracker,
        purchase.member_id,
        occurrence,
        purchase.points,
        actor,
        referral=first,
        ridden=ridden,
    )
    if first and fed.referrer_id is not None:
        referrals = Referrals(conn, rt.clock, rt.settings)
        referrals.rewards.held = purchase.account
        await referrals.first_purchase(purchase.member_id, actor=actor, referrer_id=fed.referrer_id)


async def event_recorded(
    rt: Runtime, conn: AsyncConnection, actor: Actor, event: EventRecorded
) -> None:
    tracker = TaskTracker(conn, rt.clock, rt.settings)
    tracker.rewards.held = event.account
    day = business_date(event.occurred_at, rt.settings.timezone)
    occurrence = Occurrence(TaskTrigger.EVENT, day, event=event.name, quantity=event.quantity)
    await _feed(tracker, event.member_id, occurrence, event.points, actor)


async def signed_in(
    rt: Runtime, conn: AsyncConnection, actor: Actor, *, member_id: int, points: int
) -> None:
    tracker = TaskTracker(conn, rt.clock, rt.settings)
    await _feed(tracker, member_id, Occurrence(TaskTrigger.SIGN_IN, tracker.today()), points, actor)
