"""Notifications are kept ``notification_retention_days`` (docs/OPERATIONS.md, "Retention").

An expiry reminder's row is what stops the job from reminding twice, so it goes only once its
expiry day has passed (no run reminds of a past day) and it is older than the retention; a
notification still named by a reminder stays with it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select

from app.lifecycle.tables import expiry_reminders, notifications
from app.retention import delete_in_batches
from app.runtime import Runtime


async def purge_notifications(rt: Runtime) -> Mapping[str, Any]:
    now = rt.clock.now()
    cutoff = now - timedelta(days=rt.settings.notification_retention_days)
    today = now.astimezone(ZoneInfo(rt.settings.timezone)).date()
    reminders = await delete_in_batches(
        rt.engine,
        expiry_reminders,
        where=(expiry_reminders.c.expires_on < today) & (expiry_reminders.c.created_at < cutoff),
        oldest_first=expiry_reminders.c.created_at,
    )
    reminded = exists(
        select(expiry_reminders.c.member_id).where(
            expiry_reminders.c.notification_id == notifications.c.id
        )
    )
    deleted = await delete_in_batches(
        rt.engine,
        notifications,
        where=(notifications.c.created_at < cutoff) & ~reminded,
        oldest_first=notifications.c.id,
    )
    return {"deleted": deleted, "reminders_deleted": reminders}
