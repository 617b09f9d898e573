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
It is set-based: one statement a batch of member accounts does all of it in the database (the
rule and the words included), so a million members cost the worker no million Python objects
and a second run skips what was sent without writing it again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from sqlalchemy import text

from app.db import unit_of_work
from app.ledger.queries import EXPIRING_ACCOUNT_BATCHES, EXPIRING_BY_MEMBER_AND_DAY
from app.lifecycle.bank import reminder_actions
from app.runtime import Runtime

KIND = "points.expiring"
# Member accounts a statement (and a transaction): each event takes its topic's advisory lock
# until the commit (the outbox's ordering trigger), so a batch is bounded by the lock table.
BATCH = 2_000
# Batches written at once, each on its own connection: the job is the database's writes, one
# core's worth a connection.
CONNECTIONS = 2


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


def reminder_text(points: int, expires_on: date, left: int) -> tuple[str, str]:
    """A reminder's title and body (the job writes the same words in SQL: _REMIND)."""
    when = "today" if left == 1 else f"in {left} days"
    title = f"{points} points expire {when}"
    body = f"{points} of your points are valid through {expires_on.isoformat()}: use them {when}."
    return title, body


# The accounts with points to remind of, cut into batches of BATCH accounts (the ledger's read).
_BOUNDS = text(EXPIRING_ACCOUNT_BATCHES)

# One statement a batch of accounts (after < account_id <= upto, read on ix_lots_open), all in
# the database: the batch's expiring points per member and last valid day, the threshold that
# applies today (threshold_for, days_left), those not reminded yet; each claims its reminder row
# first (the primary key makes a second run, or a second replica, write nothing), with a
# notification id drawn ahead from its sequence; only the claimed ones get their notification
# (the words of reminder_text) and their event. Returns how many were due and how many sent.
_REMIND = text(
    f"""
    WITH grouped AS ({EXPIRING_BY_MEMBER_AND_DAY}),
    due AS (
        SELECT g.*, g.expires_on - CAST(:today AS date) + 1 AS days_left,
               (SELECT min(t) FROM unnest(CAST(:thresholds AS int[])) AS t
                WHERE t >= g.expires_on - CAST(:today AS date) + 1) AS threshold_days
        FROM grouped g
        WHERE g.expires_on >= CAST(:today AS date)
    ),
    fresh AS MATERIALIZED (
        SELECT d.*, nextval(pg_get_serial_sequence('notifications', 'id')) AS notification_id,
               CASE WHEN d.days_left = 1 THEN 'today'
                    ELSE 'in ' || d.days_left || ' days' END AS word
        FROM due d
        WHERE d.threshold_days IS NOT NULL
          AND NOT EXISTS (
              SELECT 1 FROM expiry_reminders r
              WHERE r.member_id = d.member_id AND r.expires_on = d.expires_on
                AND r.threshold_days = d.threshold_days)
    ),
    claimed AS (
        INSERT INTO expiry_reminders
            (member_id, expires_on, threshold_days, points, notification_id, created_at)
        SELECT member_id, expires_on, threshold_days, points, notification_id, :now
        FROM fresh
        ON CONFLICT DO NOTHING
        RETURNING member_id, expires_on, threshold_days
    ),
    told AS (
        INSERT INTO notifications (id, member_id, kind, title, body, payload, created_at)
        OVERRIDING SYSTEM VALUE
        SELECT f.notification_id, f.member_id, :kind,
               f.points || ' points expire ' || f.word,
               f.points || ' of your points are valid through '
                   || to_char(f.expires_on, 'YYYY-MM-DD') || ': use them ' || f.word || '.',
               jsonb_build_object(
                   'member_id', f.member_id,
                   'points', f.points,
                   'expires_on', to_char(f.expires_on, 'YYYY-MM-DD'),
                   -- datetime.isoformat() of the UTC instant
                   'expires_at', to_char(f.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
                       || CASE WHEN date_part('microseconds', f.expires_at)::bigint % 1000000 = 0
                               THEN '' ELSE to_char(f.expires_at AT TIME ZONE 'UTC', '.US') END
                       || '+00:00',
                   'threshold_days', f.threshold_days,
                   'days_left', f.days_left,
                   'actions', a.actions),
               :now
        FROM claimed c
        JOIN fresh f USING (member_id, expires_on, threshold_days)
        LEFT JOIN unnest(CAST(:action_days AS date[]), CAST(:actions AS jsonb[]))
            AS a(day, actions) ON a.day = f.expires_on
        RETURNING id, member_id, title, payload
    ),
    published AS (
        INSERT INTO events (topic, type, payload)
        SELECT 'member:' || member_id, :kind,
               payload || jsonb_build_object('notification_id', id, 'title', title)
        FROM told
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM due WHERE threshold_days IS NOT NULL) AS due,
           (SELECT count(*) FROM published) AS sent
    """
)


async def send_expiry_reminders(rt: Runtime) -> dict[str, int]:
    """Remind every member with points inside a threshold; returns how many were sent and how
    many had been sent before. Set-based: a batch of BATCH accounts a statement and a
    transaction, CONNECTIONS batches at once, nothing per member in Python."""
    thresholds = sorted(set(rt.settings.expiry_reminder_days))
    if not thresholds:
        return {"sent": 0, "already_sent": 0}
    now = rt.clock.now()
    today = now.astimezone(ZoneInfo(rt.settings.timezone)).date()
    window = {"now": now, "until": now + timedelta(days=max(thresholds) + 1)}
    # What each reminder offers to do (docs/BANK.md) depends on its last valid day alone: one
    # list a day that can be reminded, from today to the furthest threshold.
    days = [today + timedelta(days=n) for n in range(max(thresholds) + 1)]
    params = {
        **window,
        "tz": rt.settings.timezone,
        "today": today,
        "thresholds": thresholds,
        "action_days": days,
        "actions": [json.dumps(reminder_actions(day)) for day in days],
        "kind": KIND,
    }
    async with rt.engine.connect() as conn:
        bounds = list(await conn.scalars(_BOUNDS, {**window, "batch": BATCH}))
    # Batches are disjoint (their members, so their topics' locks too): CONNECTIONS of them at
    # once, each taking the next range left, so the database's work spreads over its cores.
    ranges = pairwise([0, *bounds])
    counted = [0, 0]  # due, sent

    async def remind_next() -> None:
        for after, upto in ranges:
            async with unit_of_work(rt.engine) as conn:
                row = (await conn.execute(_REMIND, {**params, "after": after, "upto": upto})).one()
            counted[0] += row.due
            counted[1] += row.sent

    async with asyncio.TaskGroup() as workers:
        for _ in range(CONNECTIONS):
            workers.create_task(remind_next())
    due, sent = counted
    return {"sent": sent, "already_sent": due - sent}
