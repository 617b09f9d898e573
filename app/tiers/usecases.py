"""Tier use cases: reads for the API, and the scheduled review (the jobs issue runs it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.db import unit_of_work
from app.earning.service import EarningService
from app.runtime import Runtime
from app.tiers.policy import MemberTier, Progress, TierDef, TierPolicy, base_tier
from app.tiers.service import TierService


def policy_of(rt: Runtime) -> TierPolicy:
    return TierPolicy(
        window_months=rt.settings.tier_window_months,
        inactivity_months=rt.settings.tier_inactivity_months,
    )


def _service(rt: Runtime, conn: Any) -> TierService:
    return TierService(conn, rt.clock, policy_of(rt))


async def install_tiers(rt: Runtime, defs: Sequence[TierDef]) -> None:
    async with unit_of_work(rt.engine) as conn:
        await _service(rt, conn).install(defs)


async def list_tiers(rt: Runtime) -> list[TierDef]:
    async with rt.engine.connect() as conn:
        return await _service(rt, conn).definitions()


async def member_tiers_of(rt: Runtime, member_ids: list[int]) -> dict[int, MemberTier]:
    async with rt.engine.connect() as conn:
        return await _service(rt, conn).current_many(member_ids)


async def tier_progress(rt: Runtime, member_id: int) -> Progress | None:
    async with rt.engine.connect() as conn:
        service = _service(rt, conn)
        return await service.progress(member_id, await service.definitions())


async def tier_history(rt: Runtime, member_id: int) -> list[dict[str, Any]]:
    async with rt.engine.connect() as conn:
        return await _service(rt, conn).history(member_id)


async def review_tiers(rt: Runtime, *, batch: int = 500) -> int:
    """Review every member whose review date passed or who has been inactive: downgrade or
    keep. One transaction per member, under its account lock (as every write). Returns how
    many members changed tier."""
    async with rt.engine.connect() as conn:
        defs = await _service(rt, conn).definitions()
    if not defs:
        return 0
    base = base_tier(defs).code
    changed = 0
    after = 0
    while True:
        async with rt.engine.connect() as conn:
            due = await _service(rt, conn).members_due_for_review(base, after_id=after, limit=batch)
        if not due:
            return changed
        for member_id in due:
            async with unit_of_work(rt.engine) as conn:
                earning = EarningService(conn, rt.clock, rt.settings)
                await earning.lock_member(member_id)
                if await earning.tiers.review_member(member_id, defs) is not None:
                    changed += 1
        after = due[-1]
