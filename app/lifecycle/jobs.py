"""The lifecycle's scheduled jobs (registered in app/jobs/catalogue.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.jobs.registry import Job
from app.lifecycle.reminders import send_expiry_reminders
from app.runtime import Runtime


async def _reminders(rt: Runtime) -> Mapping[str, Any]:
    return await send_expiry_reminders(rt)


EXPIRY_REMINDERS = Job(
    "expiry-reminders",
    "Tell members N days before their points expire (demo: 30 and 7): one notification and "
    "one points.expiring event per member, expiry day and threshold.",
    _reminders,
    every_seconds=600,
)

LIFECYCLE_JOBS = [EXPIRY_REMINDERS]
