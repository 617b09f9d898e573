"""The mall's scheduled work (scheduled in app/jobs/catalogue.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from app.mall.usecases import expire_redemptions
from app.runtime import Runtime


async def redemption_timeouts(rt: Runtime) -> Mapping[str, Any]:
    expired = skipped = 0
    while True:  # catch up after a downtime: page until nothing is due
        outcome = await expire_redemptions(rt, limit=500)
        expired, skipped = expired + outcome.expired, skipped + outcome.skipped
        if outcome.expired + outcome.skipped < 500:
            return asdict(type(outcome)(expired, skipped))
