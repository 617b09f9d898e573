"""Expiry reminders: "300 points expire after 2027-01-15 (in 7 days)", N days before.

The rule (pure, :func:`threshold_for`): points whose last valid day is ``days_left`` days away
(1 = they expire tonight at business-local midnight) are reminded under the smallest threshold
at least ``days_left``. With thresholds 30 and 7: 20 days left → the 30-day reminder, 5 days left
→ the 7-day one, 31 → none yet. A job that ran late sends only the threshold that applies now, not
a stale 30-day reminder a day before expiry.

The job (:func:`send_expiry_reminders`) groups what is left of the open lots by member and last
valid day and, for each group inside a threshold, writes the reminder (primary key member, day,
threshold: a second run or a second replica writes nothing), a notification, and a
``points.expiring`` event in the outbox — the live ``expiryAlerts`` and ``memberEvents`` carry it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import unit_of_work
from app.events.outbox import append_event, member_topic
from app.ledger.queries import expiring_points
from app.lifecycle.tables import expiry_reminders, notifications
from app.runtime import Runtime

KIND = "points.expiring"
BATCH = 200


def threshold_for(days_left: int, thresholds: Sequence[int]) -> int | None:
    """The reminder threshold that applies with ``days_left`` days to go, or None."""
    fitting = [t for t in thresholds if t >= days_left]
    return min(fitting) if days_left >= 1 and fitting else None


def last_valid_day(expires_at: datetime, tz: str) -> date:
    """The last business-local day the points can be spent (expiry at a midnight ends the day
    before it)."""
    return (expires_at - timedelta(microseconds=1)).astimezone(ZoneInfo(tz)).date()


def days_left(expires_on: date, today: date) -> int:
    return (expires_on - today).days + 1


@dataclass(frozen=True)
class Expiring:
    member_id: int
    expires_on: date  # last valid day
    expires_at: datetime  # the earliest moment some of these points expire
    points: int


def reminder_text(points: int, expires_on: date, left: int) -> tuple[str, str]:
    when = "today" if left == 1 else f"in {left} days"
    title = f"{points} points expire {when}"
    body = f"{points} of your points are valid through {expires_on.isoformat()}: use them {when}."
    return title, body


async def _expiring(rt: Runtime, horizon_days: int) -> list[Expiring]:
    now = rt.clock.now()
    async with rt.engine.connect() as conn:
        rows = await expiring_points(
            conn,
            now=now,
            until=now + timedelta(days=horizon_days + 1),
            timezone=rt.settings.timezone,
        )
        return [Expiring(r.member_id, r.expires_on, r.expires_at, int(r.points)) for r in rows]


async def _remind(
    conn: AsyncConnection, rt: Runtime, item: Expiring, threshold: int, left: int
) -> bool:
    """Write one reminder with its notification and event; False when it was already sent."""
    now = rt.clock.now()
    title, body = reminder_text(item.points, item.expires_on, left)
    payload = {
        "member_id": item.member_id,
        "points": item.points,
        "expires_on": item.expires_on.isoformat(),
        "expires_at": item.expires_at.isoformat(),
        "threshold_days": threshold,
        "days_left": left,
    }
    notification_id = await conn.scalar(
        notifications.insert()
        .values(
            member_id=item.member_id,
            kind=KIND,
            title=title,
            body=body,
            payload=payload,
            created_at=now,
        )
        .returning(notifications.c.id)
    )
    sent = await conn.scalar(
        insert(expiry_reminders)
        .values(
            member_id=item.member_id,
            expires_on=item.expires_on,
            threshold_days=threshold,
            points=item.points,
            notification_id=notification_id,
            created_at=now,
        )
        .on_conflict_do_nothing()
        .returning(expiry_reminders.c.member_id)
    )
    if sent is None:  # already reminded (an earlier run): take the notification back
        await conn.execute(notifications.delete().where(notifications.c.id == notification_id))
        return False
    await append_event(
        conn,
        member_topic(item.member_id),
        KIND,
        {**payload, "notification_id": notification_id, "title": title},
    )
    return True


async def send_expiry_reminders(rt: Runtime) -> dict[str, int]:
    """Remind every member with points inside a threshold; returns how many were sent."""
    thresholds = sorted(set(rt.settings.expiry_reminder_days))
    if not thresholds:
        return {"sent": 0, "already_sent": 0}
    today = rt.clock.now().astimezone(ZoneInfo(rt.settings.timezone)).date()
    due = []
    for item in await _expiring(rt, max(thresholds)):
        left = days_left(item.expires_on, today)
        threshold = threshold_for(left, thresholds)
        if threshold is not None:
            due.append((item, threshold, left))
    sent = 0
    for start in range(0, len(due), BATCH):
        async with unit_of_work(rt.engine) as conn:
            for item, threshold, left in due[start : start + BATCH]:
                sent += await _remind(conn, rt, item, threshold, left)
    return {"sent": sent, "already_sent": len(due) - sent}
