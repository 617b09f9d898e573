"""Notifications are deleted after their retention; an expiry reminder (which stops a second
reminder) goes only once its expiry day has passed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.clock import FrozenClock
from app.lifecycle.reminders import send_expiry_reminders
from app.lifecycle.retention import purge_notifications
from app.lifecycle.tables import expiry_reminders, notifications
from app.runtime import Runtime
from tests.ledger.test_service import earn, new_member

DAY = timedelta(days=1)


async def counts(rt: Runtime) -> tuple[int, int]:
    async with rt.engine.connect() as conn:
        notes = await conn.scalar(select(func.count()).select_from(notifications))
        reminders = await conn.scalar(select(func.count()).select_from(expiry_reminders))
    return int(notes or 0), int(reminders or 0)


async def test_notifications_go_after_their_retention_and_reminders_after_their_day(
    runtime: Runtime, clock: FrozenClock
) -> None:
    assert runtime.settings.notification_retention_days == 180
    clock.set(datetime(2026, 1, 10, 2, 0, tzinfo=UTC))
    soon, late = await new_member(runtime, "soon"), await new_member(runtime, "late")
    await earn(runtime, soon, 100, expires_at=datetime(2026, 1, 15, 16, 0, tzinfo=UTC))
    # Expires in a year: reminded 30 days before, on Jan 4 next year.
    await earn(runtime, late, 100, expires_at=datetime(2027, 1, 31, 16, 0, tzinfo=UTC))
    assert await send_expiry_reminders(runtime) == {"sent": 1, "already_sent": 0}

    clock.set(datetime(2027, 1, 4, 2, 0, tzinfo=UTC))
    assert await send_expiry_reminders(runtime) == {"sent": 1, "already_sent": 0}
    assert await counts(runtime) == (2, 2)

    # 359 days after the first reminder: it and its day are past; the second is 0 days old.
    assert await purge_notifications(runtime) == {"deleted": 1, "reminders_deleted": 1}
    assert await counts(runtime) == (1, 1)
    # The kept reminder still stops a second one.
    assert await send_expiry_reminders(runtime) == {"sent": 0, "already_sent": 1}

    # 179 days later the second is still kept; 2 days later it goes (its day passed long ago).
    clock.advance(179 * DAY)
    assert await purge_notifications(runtime) == {"deleted": 0, "reminders_deleted": 0}
    clock.advance(2 * DAY)
    assert await purge_notifications(runtime) == {"deleted": 1, "reminders_deleted": 1}
    assert await counts(runtime) == (0, 0)


async def test_a_notification_whose_expiry_day_is_ahead_is_kept_past_the_retention(
    runtime: Runtime, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 1, 10, 2, 0, tzinfo=UTC))
    m = await new_member(runtime)
    await earn(runtime, m, 100, expires_at=datetime(2026, 1, 20, 16, 0, tzinfo=UTC))
    assert (await send_expiry_reminders(runtime))["sent"] == 1
    fast = runtime.settings.model_copy(update={"notification_retention_days": 1})
    clock.advance(3 * DAY)  # older than a day, but its points expire on Jan 20
    assert await purge_notifications(replace(runtime, settings=fast)) == {
        "deleted": 0,
        "reminders_deleted": 0,
    }
    assert await counts(runtime) == (1, 1)
