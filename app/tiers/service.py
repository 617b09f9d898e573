"""Tier service: definitions, each member's tier, upgrades at purchase time, scheduled reviews.

Called inside the earning transaction (under the member's account lock) for upgrades, and by
:func:`app.tiers.usecases.review_tiers` (the jobs issue schedules it) for reviews.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.clock import Clock, add_months
from app.earning.tables import purchases
from app.events.outbox import append_event, member_topic
from app.tiers.policy import (
    Decision,
    MemberTier,
    Progress,
    TierDef,
    TierPolicy,
    base_tier,
    by_code,
    progress,
    review,
    upgrade,
    window_start,
)
from app.tiers.tables import member_tiers, tier_changes, tier_definitions


def _def(row: Any) -> TierDef:
    return TierDef(
        code=row.code,
        name=row.name,
        rank=row.rank,
        threshold=Decimal(row.threshold),
        multiplier=Decimal(row.multiplier),
        benefits=tuple(row.benefits),
    )


class TierService:
    def __init__(self, conn: AsyncConnection, clock: Clock, policy: TierPolicy) -> None:
        self.conn = conn
        self.clock = clock
        self.policy = policy

    async def definitions(self) -> list[TierDef]:
        rows = await self.conn.execute(select(tier_definitions).order_by(tier_definitions.c.rank))
        return [_def(row) for row in rows]

    async def install(self, defs: Sequence[TierDef]) -> None:
        """Create or update tier definitions (the seed; staff tools later)."""
        for d in defs:
            values = {
                "name": d.name,
                "rank": d.rank,
                "threshold": d.threshold,
                "multiplier": d.multiplier,
                "benefits": list(d.benefits),
            }
            await self.conn.execute(
                insert(tier_definitions)
                .values(code=d.code, **values)
                .on_conflict_do_update(index_elements=["code"], set_=values)
            )

    async def current(self, member_id: int) -> MemberTier | None:
        row = (
            await self.conn.execute(
                select(member_tiers).where(member_tiers.c.member_id == member_id)
            )
        ).first()
        if row is None:
            return None
        return MemberTier(row.tier_code, row.since, row.review_at, row.last_activity_at)

    async def current_many(self, member_ids: list[int]) -> dict[int, MemberTier]:
        rows = await self.conn.execute(
            select(member_tiers).where(member_tiers.c.member_id.in_(member_ids))
        )
        return {
            r.member_id: MemberTier(r.tier_code, r.since, r.review_at, r.last_activity_at)
            for r in rows
        }

    async def qualifying_spend(self, member_id: int) -> Decimal:
        since = window_start(self.clock.now(), self.policy)
        spend = await self.conn.scalar(
            select(
                func.coalesce(func.sum(purchases.c.amount - purchases.c.refunded_amount), 0)
            ).where(purchases.c.member_id == member_id, purchases.c.occurred_at > since)
        )
        return Decimal(spend or 0)

    async def tier_of(self, member_id: int, defs: Sequence[TierDef]) -> TierDef | None:
        if not defs:
            return None
        tier = await self.current(member_id)
        return by_code(defs, tier.code) if tier else base_tier(defs)

    async def record_activity(
        self, member_id: int, defs: Sequence[TierDef], *, spend: Decimal | None
    ) -> Decision | None:
        """After an earning (under the account lock): note the activity; a purchase (``spend``
        given) that crosses a threshold upgrades at once."""
        if not defs:
            return None
        now = self.clock.now()
        tier = await self.current(member_id)
        if tier is None:
            base = base_tier(defs)
            tier = MemberTier(base.code, now, add_months(now, self.policy.review_months), now)
            await self.conn.execute(
                member_tiers.insert().values(
                    member_id=member_id,
                    tier_code=tier.code,
                    since=tier.since,
                    review_at=tier.review_at,
                    last_activity_at=now,
                )
            )
        else:
            await self.conn.execute(
                member_tiers.update()
                .where(member_tiers.c.member_id == member_id)
                .values(last_activity_at=now)
            )
        if spend is None:
            return None
        decision = upgrade(defs, tier.code, spend)
        if decision is not None:
            await self._change(member_id, tier.code, decision, spend)
        return decision

    async def review_member(self, member_id: int, defs: Sequence[TierDef]) -> Decision | None:
        tier = await self.current(member_id)
        if tier is None or not defs:
            return None
        spend = await self.qualifying_spend(member_id)
        decision = review(defs, tier, spend, self.clock.now(), self.policy)
        if decision is None:
            return None
        if decision.to.code == tier.code:  # kept at review: the next review is a period later
            await self.conn.execute(
                member_tiers.update()
                .where(member_tiers.c.member_id == member_id)
                .values(review_at=add_months(tier.review_at, self.policy.review_months))
            )
            return None
        await self._change(member_id, tier.code, decision, spend)
        return decision

    async def _change(self, member_id: int, old: str, decision: Decision, spend: Decimal) -> None:
        now = self.clock.now()
        await self.conn.execute(
            member_tiers.update()
            .where(member_tiers.c.member_id == member_id)
            .values(
                tier_code=decision.to.code,
                since=now,
                review_at=add_months(now, self.policy.review_months),
            )
        )
        await self.conn.execute(
            tier_changes.insert().values(
                member_id=member_id,
                from_tier=old,
                to_tier=decision.to.code,
                reason=decision.reason.value,
                qualifying_spend=spend,
                created_at=now,
            )
        )
        await append_event(
            self.conn,
            member_topic(member_id),
            "tier.changed",
            {
                "member_id": member_id,
                "from": old,
                "to": decision.to.code,
                "name": decision.to.name,
                "multiplier": str(decision.to.multiplier),
                "reason": decision.reason.value,
                "qualifying_spend": str(spend),
            },
        )

    async def members_due_for_review(self, base: str, *, after_id: int, limit: int) -> list[int]:
        now = self.clock.now()
        inactive_before = add_months(now, -self.policy.inactivity_months)
        rows = await self.conn.scalars(
            select(member_tiers.c.member_id)
            .where(
                member_tiers.c.tier_code != base,
                member_tiers.c.member_id > after_id,
                (member_tiers.c.review_at <= now)
                | (
                    func.greatest(member_tiers.c.last_activity_at, member_tiers.c.since)
                    <= inactive_before
                ),
            )
            .order_by(member_tiers.c.member_id)
            .limit(limit)
        )
        return list(rows.all())

    async def progress(self, member_id: int, defs: Sequence[TierDef]) -> Progress | None:
        if not defs:
            return None
        tier = await self.current(member_id)
        code = tier.code if tier else base_tier(defs).code
        return progress(defs, code, await self.qualifying_spend(member_id))

    async def history(self, member_id: int) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(tier_changes)
            .where(tier_changes.c.member_id == member_id)
            .order_by(tier_changes.c.id.desc())
        )
        return [dict(row._mapping) for row in rows]
