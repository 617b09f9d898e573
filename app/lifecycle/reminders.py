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

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import unit_of_work
from app.ledger.queries import expiring_points
from app.lifecycle.bank import reminder_actions
from app.runtime import Runtime

KIND = "points.expiring"
BATCH = 2_000  # reminders a statement (and a transaction)


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


# One statement a batch: the reminders not yet sent claim their rows first (the primary key
# makes a second run, or a second replica, write nothing), each with a notification id drawn
# ahead from its sequence; only the claimed ones get their notification and their event.
_REMIND = text(
    """
    WITH due AS (
        SELECT * FROM unnest(
            CAST(:members AS bigint[]), CAST(:days AS date[]), CAST(:thresholds AS int[]),
            CAST(:points AS bigint[]), CAST(:titles AS text[]), CAST(:bodies AS text[]),
            CAST(:payloads AS text[])
        ) AS d(member_id, expires_on, threshold_days, points, title, body, payload)
    ),
    claimed AS (
        INSERT INTO expiry_reminders
            (member_id, expires_on, threshold_days, points, notification_id, created_at)
        SELECT member_id, expires_on, threshold_days, points,
               nextval(pg_get_serial_sequence('notifications', 'id')), :now
        FROM due
        ON CONFLICT DO NOTHING
        RETURNING member_id, expires_on, threshold_days, notification_id
    ),
    told AS (
        INSERT INTO notifications (id, member_id, kind, title, body, payload, created_at)
        OVERRIDING SYSTEM VALUE
        SELECT c.notification_id, d.member_id, :kind, d.title, d.body, CAST(d.payload AS jsonb),
               :now
        FROM claimed c JOIN due d USING (member_id, expires_on, threshold_days)
        RETURNING id, member_id, title, payload
    )
    INSERT INTO events (topic, type, payload)
    SELECT 'member:' || member_id, :kind,
           payload || jsonb_build_object('notification_id', id, 'title', title)
    FROM told
    """
)


async def _remind_all(
    conn: AsyncConnection, now: datetime, batch: Sequence[tuple[Expiring, int, int]]
) -> int:
    """Write the batch's reminders with their notifications and events; returns how many were
    new (the others had been sent before)."""
    texts = [reminder_text(item.points, item.expires_on, left) for item, _, left in batch]
    payloads = [
        json.dumps(
            {
                "member_id": item.member_id,
                "points": item.points,
                "expires_on": item.expires_on.isoformat(),
                "expires_at": item.expires_at.isoformat(),
                "threshold_days": threshold,
                "days_left": left,
                # Give the points a second life before they go (docs/BANK.md).
                "actions": reminder_actions(item.expires_on),
            }
        )
        for item, threshold, left in batch
    ]
    written = await conn.execute(
        _REMIND,
        {
            "members": [item.member_id for item, _, _ in batch],
            "days": [item.expires_on for item, _, _ in batch],
            "thresholds": [threshold for _, threshold, _ in batch],
            "points": [item.points for item, _, _ in batch],
            "titles": [title for title, _ in texts],
            "bodies": [body for _, body in texts],
            "payloads": payloads,
            "now": now,
            "kind": KIND,
        },
    )
    return int(written.rowcount or 0)


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
            sent += await _remind_all(conn, rt.clock.now(), due[start : start + BATCH])
    return {"sent": sent, "already_sent": len(due) - sent}
