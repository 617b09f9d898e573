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
from typing import Any
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


def reminder_words(expires_on: date, left: int) -> tuple[str, str]:
    """What follows the points in a reminder's title and in its body (the job writes the points
    and then these, the same for every member reminded of that day)."""
    when = "today" if left == 1 else f"in {left} days"
    return (
        f" points expire {when}",
        f" of your points are valid through {expires_on.isoformat()}: use them {when}.",
    )


def reminder_text(points: int, expires_on: date, left: int) -> tuple[str, str]:
    """A reminder's title and body."""
    title, body = reminder_words(expires_on, left)
    return f"{points}{title}", f"{points}{body}"


# The accounts with points to remind of, cut into batches of BATCH accounts (the ledger's read).
_BOUNDS = text(EXPIRING_ACCOUNT_BATCHES)

# One statement a batch of accounts (after < account_id <= upto, read on ix_lots_open), all in
# the database: the batch's expiring points per member and last valid day. Everything that
# depends on the day alone comes in arrays indexed by days_left (1 = today), made once a run by
# the reference functions (_by_days_left): the threshold that applies (NULL: none yet, so not
# due), the words, the day, the offers; a row costs an array subscript, not a function call or
# a join. Each due group claims its reminder row first with a notification id drawn ahead (the
# sequence resolved once, an InitPlan: pg_get_serial_sequence a row was a catalog scan a row);
# the primary key's ON CONFLICT alone decides what was sent before — a probe of the unique
# index whatever the table's statistics say (a NOT EXISTS here was planned from statistics the
# job itself makes stale as it fills the table). Only the claimed get their notification and
# their event. Returns how many were due and how many sent.
_REMIND = text(
    f"""
    WITH grouped AS ({EXPIRING_BY_MEMBER_AND_DAY}),
    due AS MATERIALIZED (
        SELECT g.member_id, g.expires_on, g.expires_at, g.points, g.days_left,
               (CAST(:thresholds AS int[]))[g.days_left] AS threshold_days,
               nextval((SELECT CAST(pg_get_serial_sequence('notifications', 'id') AS regclass)))
                   AS notification_id
        FROM (SELECT *, expires_on - CAST(:today AS date) + 1 AS days_left FROM grouped) AS g
        WHERE (CAST(:thresholds AS int[]))[g.days_left] IS NOT NULL
    ),
    claimed AS (
        INSERT INTO expiry_reminders
            (member_id, expires_on, threshold_days, points, notification_id, created_at)
        SELECT member_id, expires_on, threshold_days, points, notification_id, :now
        FROM due
        ON CONFLICT DO NOTHING
        RETURNING notification_id
    ),
    told AS (
        INSERT INTO notifications (id, member_id, kind, title, body, payload, created_at)
        OVERRIDING SYSTEM VALUE
        SELECT d.notification_id, d.member_id, :kind,
               d.points || (CAST(:titles AS text[]))[d.days_left],
               d.points || (CAST(:bodies AS text[]))[d.days_left],
               jsonb_build_object(
                   'member_id', d.member_id,
                   'points', d.points,
                   'expires_on', (CAST(:days AS text[]))[d.days_left],
                   -- datetime.isoformat() of the UTC instant
                   'expires_at', to_char(d.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
                       || CASE WHEN date_part('microseconds', d.expires_at)::bigint % 1000000 = 0
                               THEN '' ELSE to_char(d.expires_at AT TIME ZONE 'UTC', '.US') END
                       || '+00:00',
                   'threshold_days', d.threshold_days,
                   'days_left', d.days_left,
                   'actions', (CAST(:actions AS jsonb[]))[d.days_left]),
               :now
        FROM claimed c
        JOIN due d USING (notification_id)
        RETURNING id, member_id, title, payload
    ),
    published AS (
        INSERT INTO events (member_id, topic, type, payload)
        SELECT member_id, 'member:' || member_id, :kind,
               payload || jsonb_build_object('notification_id', id, 'title', title)
        FROM told
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM due) AS due, (SELECT count(*) FROM published) AS sent,
           ARRAY(SELECT DISTINCT member_id FROM told) AS told
    """
)


def _by_days_left(today: date, thresholds: Sequence[int]) -> dict[str, list[Any]]:
    """The statement's per-day arrays, element n for the day with n days left (1 to the furthest
    threshold): the threshold that applies, the words, the day, the offers (docs/BANK.md)."""
    days = [(n, today + timedelta(days=n - 1)) for n in range(1, max(thresholds) + 1)]
    words = [reminder_words(day, n) for n, day in days]
    return {
        "thresholds": [threshold_for(n, thresholds) for n, _ in days],
        "titles": [title for title, _ in words],
        "bodies": [body for _, body in words],
        "days": [day.isoformat() for _, day in days],
        "actions": [json.dumps(reminder_actions(day)) for _, day in days],
    }


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
    params = {
        **window,
        **_by_days_left(today, thresholds),
        "tz": rt.settings.timezone,
        "today": today,
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
            # Notifications read on a replica: the reminded members' next reads must see theirs.
            await rt.members_written(row.told)
            counted[0] += row.due
            counted[1] += row.sent

    async with asyncio.TaskGroup() as workers:
        for _ in range(CONNECTIONS):
            workers.create_task(remind_next())
    due, sent = counted
    return {"sent": sent, "already_sent": due - sent}
