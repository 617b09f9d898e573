"""The demo programme's engagement part (FEATURES.md §5): sign-in schedules, tasks and
challenges, badges. Seeding never overwrites what an operator changed since."""

from __future__ import annotations

from app.engagement import usecases
from app.ledger.models import Actor
from app.runtime import Runtime


async def seed_engagement(rt: Runtime, actor: Actor) -> None:
    await usecases.seed_schedules(rt, actor)
