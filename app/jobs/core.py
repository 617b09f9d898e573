"""Jobs that drive the core domains: hold time-outs, tier reviews, the expiry sweep."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from app.jobs.registry import Job
from app.ledger.usecases import settle_due_accounts, void_expired_holds
from app.runtime import Runtime
from app.tiers.usecases import review_tiers


async def _hold_timeouts(rt: Runtime) -> Mapping[str, Any]:
    voided = 0
    while True:  # catch up after a downtime: page until nothing is due
        done = await void_expired_holds(rt, limit=500)
        voided += done
        if done < 500:
            return {"voided": voided}


async def _tier_review(rt: Runtime) -> Mapping[str, Any]:
    return {"changed": await review_tiers(rt)}


async def _settle_due(rt: Runtime) -> Mapping[str, Any]:
    return asdict(await settle_due_accounts(rt, batch=rt.settings.expiry_sweep_batch))


HOLD_TIMEOUTS = Job(
    "hold-timeouts",
    "Void holds past their expiry; the points go back into their lots.",
    _hold_timeouts,
    every_seconds=30,
)
TIER_REVIEW = Job(
    "tier-review",
    "Review members whose tier review date passed or who went quiet: keep or downgrade.",
    _tier_review,
    cron="10 3 * * *",
)
EXPIRY_SWEEP = Job(
    "expiry-sweep",
    "Settle every account with something due: expire due lots into breakage and make matured "
    "pending points available (a 'points.available' event each).",
    _settle_due,
    every_seconds=60,
)

CORE_JOBS = [HOLD_TIMEOUTS, TIER_REVIEW, EXPIRY_SWEEP]
