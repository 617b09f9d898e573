"""Where engagement hears about activity: called inside the transaction that recorded it.

Earning announces purchases and events through its hooks (app/earning/hooks.py; this package
registers these listeners when imported) and check-ins call :func:`signed_in`, after their own
work, in the same unit of work and under the member's account lock: task progress, referral
and win-back rewards commit with the purchase, event or sign-in, or not at all. A replayed
request (same order or event id) does not call them again.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from app.clock import business_date
from app.earning.hooks import EventRecorded, PurchaseRecorded
from app.engagement.activity import pay_winback
from app.engagement.referrals import Referrals
from app.engagement.tasks import Occurrence, TaskTrigger
from app.engagement.tracker import Fed, TaskTracker
from app.ledger.models import Actor
from app.runtime import Runtime


async def _feed(
    tracker: TaskTracker,
    member_id: int,
    occurrence: Occurrence,
    points: int,
    actor: Actor,
    *,
    referral: bool = False,
) -> Fed:
    occurrences = [occurrence]
    if points > 0:  # the points it earned feed the points tasks ("earn N points this month")
        occurrences.append(Occurrence(TaskTrigger.POINTS, occurrence.day, points=points))
    now = tracker.clock.now()
    fed = await tracker.feed(member_id, occurrences, actor=actor, active_at=now, referral=referral)
    await pay_winback(
        tracker.rewards, tracker.settings, member_id, now, fed.last_active, actor=actor
    )
    return fed


async def purchase_recorded(
    rt: Runtime, conn: AsyncConnection, actor: Actor, purchase: PurchaseRecorded
) -> None:
    tracker = TaskTracker(conn, rt.clock, rt.settings)
    tracker.rewards.held = purchase.account  # the rewards' earns adopt the purchase's lock
    day = business_date(purchase.occurred_at, rt.settings.timezone)
    occurrence = Occurrence(
        TaskTrigger.PURCHASE, day, amount=purchase.amount, categories=purchase.categories
    )
    # A first purchase may pay a referral: its pending referral is read with the progress.
    first = purchase.first
    fed = await _feed(
        tracker, purchase.member_id, occurrence, purchase.points, actor, referral=first
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
