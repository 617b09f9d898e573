"""The mall's scheduled jobs (registered in app.jobs.catalogue)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from app.jobs.registry import Job
from app.mall.usecases import expire_redemptions
from app.runtime import Runtime


async def _redemption_timeouts(rt: Runtime) -> Mapping[str, Any]:
    expired = skipped = 0
    while True:  # catch up after a downtime: page until nothing is due
        outcome = await expire_redemptions(rt, limit=500)
        expired, skipped = expired + outcome.expired, skipped + outcome.skipped
        if outcome.expired + outcome.skipped < 500:
            return asdict(type(outcome)(expired, skipped))


REDEMPTION_TIMEOUTS = Job(
    "redemption-timeouts",
    "Close redemption orders not confirmed in time: hold voided, stock back.",
    _redemption_timeouts,
    every_seconds=30,
)

MALL_JOBS = (REDEMPTION_TIMEOUTS,)
