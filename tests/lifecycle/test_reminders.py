"""Expiry reminders: the threshold rule (pure) and the job on the database."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text

from app.clock import FrozenClock
from app.jobs import usecases as jobs
from app.lifecycle import notifications as notes
from app.lifecycle.bank import reminder_actions
from app.lifecycle.reminders import (
    days_left,
    last_valid_day,
    reminder_text,
    send_expiry_reminders,
    threshold_for,
)
from app.runtime import Runtime
from tests.ledger.test_service import earn, new_member

TZ = "Asia/Shanghai"
DAY = timedelta(days=1)


def test_the_smallest_threshold_that_fits_applies() -> None:
    assert threshold_for(31, [30, 7]) is None
    assert threshold_for(30, [30, 7]) == 30
    assert threshold_for(8, [30, 7]) == 30
    assert threshold_for(7, [30, 7]) == 7
    assert threshold_for(1, [30, 7]) == 7
    assert threshold_for(0, [30, 7]) is None  # already expired: the sweep's business
    assert threshold_for(3, []) is None


def test_days_are_business_local_and_count_the_last_valid_day() -> None:
    # Expiring at midnight Shanghai (16:00 UTC) means valid through that day.
    expiry = datetime(2027, 1, 15, 16, 0, tzinfo=UTC)
    assert last_valid_day(expiry, TZ) == date(2027, 1, 15)
    assert days_left(date(2027, 1, 15), date(2027, 1, 15)) == 1
    assert days_left(date(2027, 1, 15), date(2027, 1, 9)) == 7


async def reminders_of(rt: Runtime, member: int) -> list[tuple[str, int, int]]:
    async with rt.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT expires_on, threshold_days, points FROM expiry_reminders "
                "WHERE member_id = :m ORDER BY expires_on, threshold_days"
            ),
            {"m": member},
        )
        return [(r.expires_on.isoformat(), r.threshold_days, r.points) for r in rows]


async def test_points_expiring_in_30_and_7_days_get_one_reminder_per_threshold(
    runtime: Runtime, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))  # 10:00 on Nov 23 in Shanghai
    m = await new_member(runtime)
    other = await new_member(runtime, "far")
    # Valid through Dec 22 (30 days left) and Nov 29 (7 days left), as midnights in Shanghai.
    await earn(runtime, m, 300, expires_at=datetime(2026, 12, 22, 16, 0, tzinfo=UTC))
    await earn(runtime, m, 120, expires_at=datetime(2026, 11, 29, 16, 0, tzinfo=UTC))
    await earn(runtime, m, 5, expires_at=datetime(2026, 11, 29, 16, 0, tzinfo=UTC))
    await earn(runtime, other, 50)  # a year away: no reminder

    assert await send_expiry_reminders(runtime) == {"sent": 2, "already_sent": 0}
    assert await reminders_of(runtime, m) == [("2026-11-29", 7, 125), ("2026-12-22", 30, 300)]
    assert await reminders_of(runtime, other) == []

    # Every later run (or another replica) sends nothing more for the same day and threshold.
    assert await send_expiry_reminders(runtime) == {"sent": 0, "already_sent": 2}
    clock.advance(DAY)
    assert (await send_expiry_reminders(runtime))["sent"] == 0

    # 23 days on, the December points are 7 days away: their 7-day reminder, once.
    clock.set(datetime(2026, 12, 16, 2, 0, tzinfo=UTC))
    assert (await send_expiry_reminders(runtime))["sent"] == 1
    assert (await send_expiry_reminders(runtime))["sent"] == 0
    assert await reminders_of(runtime, m) == [
        ("2026-11-29", 7, 125),
        ("2026-12-22", 7, 300),
        ("2026-12-22", 30, 300),
    ]

    # Each reminder is a notification and an event in the member's stream.
    listed = await notes.list_notifications(runtime, m, first=10, before_id=None, unread_only=True)
    assert [(n.payload["points"], n.payload["threshold_days"]) for n in listed] == [
        (300, 7),
        (300, 30),
        (125, 7),
    ]
    assert listed[-1].title == "125 points expire in 7 days"
    async with runtime.engine.connect() as conn:
        events = await conn.scalar(
            text("SELECT count(*) FROM events WHERE topic = :t AND type = 'points.expiring'"),
            {"t": f"member:{m}"},
        )
    assert events == 3


async def test_a_late_job_sends_only_the_threshold_that_applies_now(
    runtime: Runtime, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    m = await new_member(runtime)
    await earn(runtime, m, 80, expires_at=datetime(2026, 11, 26, 16, 0, tzinfo=UTC))
    await send_expiry_reminders(runtime)
    assert await reminders_of(runtime, m) == [("2026-11-26", 7, 80)]  # no stale 30-day one


async def test_points_a_day_past_the_furthest_threshold_wait_for_the_next_day(
    runtime: Runtime, clock: FrozenClock
) -> None:
    """The job looks a day past its furthest threshold (31 days left with 30 and 7): those
    points are read but not due until the day after."""
    clock.set(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    m = await new_member(runtime)
    await earn(runtime, m, 90, expires_at=datetime(2026, 12, 23, 16, 0, tzinfo=UTC))  # 31 left
    assert await send_expiry_reminders(runtime) == {"sent": 0, "already_sent": 0}
    clock.advance(DAY)
    assert await send_expiry_reminders(runtime) == {"sent": 1, "already_sent": 0}
    assert await reminders_of(runtime, m) == [("2026-12-23", 30, 90)]


async def test_read_and_unread(runtime: Runtime, clock: FrozenClock) -> None:
    m = await new_member(runtime)
    other = await new_member(runtime, "other")
    await earn(runtime, m, 10, expires_at=clock.now() + 3 * DAY)
    await earn(runtime, m, 20, expires_at=clock.now() + 20 * DAY)
    await earn(runtime, other, 20, expires_at=clock.now() + 20 * DAY)
    run = await jobs.run_now(runtime, "expiry-reminders")
    assert run.result == {"sent": 3, "already_sent": 0}
    assert await notes.unread_count(runtime, m) == 2
    first = (
        await notes.list_notifications(runtime, m, first=1, before_id=None, unread_only=False)
    )[0]
    other_note = (
        await notes.list_notifications(runtime, other, first=1, before_id=None, unread_only=False)
    )[0]
    # Another member's notification id changes nothing for this member.
    assert await notes.mark_read(runtime, m, [other_note.id]) == (0, 2)
    assert await notes.mark_read(runtime, m, [first.id]) == (1, 1)
    assert await notes.mark_read(runtime, m, None) == (1, 0)
    assert await notes.unread_count(runtime, other) == 1


async def test_two_jobs_racing_send_each_reminder_once(
    runtime: Runtime, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    members = [await new_member(runtime, f"race-{n}") for n in range(30)]
    for m in members:
        await earn(runtime, m, 40, expires_at=datetime(2026, 11, 29, 16, 0, tzinfo=UTC))

    first, second = await asyncio.gather(
        send_expiry_reminders(runtime), send_expiry_reminders(runtime)
    )
    assert first["sent"] + second["sent"] == 30
    assert first["already_sent"] + second["already_sent"] == 30
    async with runtime.engine.connect() as conn:
        counts = (
            await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM expiry_reminders),"
                    " (SELECT count(*) FROM notifications),"
                    " (SELECT count(*) FROM events WHERE type = 'points.expiring')"
                )
            )
        ).one()
    assert tuple(counts) == (30, 30, 30)


async def test_the_job_writes_the_words_and_the_offers_of_the_reference_functions(
    runtime: Runtime, clock: FrozenClock
) -> None:
    """The job builds each notification in SQL: its title, body and payload are those
    reminder_text and reminder_actions give (the points' day, a second-precise instant too)."""
    clock.set(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    m = await new_member(runtime)
    tonight = datetime(2026, 11, 23, 15, 59, 59, 250_000, tzinfo=UTC)  # valid through today
    await earn(runtime, m, 40, expires_at=tonight)
    await earn(runtime, m, 60, expires_at=datetime(2026, 11, 29, 16, 0, tzinfo=UTC))
    assert (await send_expiry_reminders(runtime))["sent"] == 2
    listed = await notes.list_notifications(runtime, m, first=10, before_id=None, unread_only=True)
    found = {n.payload["days_left"]: n for n in listed}
    for left, points, day, at in (
        (1, 40, date(2026, 11, 23), tonight),
        (7, 60, date(2026, 11, 29), datetime(2026, 11, 29, 16, 0, tzinfo=UTC)),
    ):
        note = found[left]
        assert (note.title, note.body) == reminder_text(points, day, left)
        assert note.payload == {
            "member_id": m,
            "points": points,
            "expires_on": day.isoformat(),
            "expires_at": at.isoformat(),
            "threshold_days": 7,
            "days_left": left,
            "actions": reminder_actions(day),
        }
    async with runtime.engine.connect() as conn:
        payloads = list(
            await conn.scalars(
                text("SELECT payload FROM events WHERE type = 'points.expiring' ORDER BY id")
            )
        )
    assert sorted(p["notification_id"] for p in payloads) == sorted(n.id for n in listed)
    assert {p["title"] for p in payloads} == {n.title for n in listed}
