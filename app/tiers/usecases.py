"""Tier use cases: reads for the API, and the scheduled review (the jobs issue runs it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.db import unit_of_work
from app.errors import DomainError, ErrorCode
from app.ledger.accounts import lock_account, member_status
from app.ledger.models import Actor, MemberStatus
from app.runtime import Runtime
from app.tiers.policy import MemberTier, Progress, TierDef, TierPolicy, base_tier
from app.tiers.service import DefinitionVersion, SavedDefinition, TierService


def _service(rt: Runtime, conn: Any) -> TierService:
    return TierService(conn, rt.clock, TierPolicy.from_settings(rt.settings))


async def install_tiers(rt: Runtime, defs: Sequence[TierDef]) -> None:
    async with unit_of_work(rt.engine) as conn:
        await _service(rt, conn).install(defs)


async def list_tiers(rt: Runtime) -> list[TierDef]:
    async with rt.read() as conn:
        return await _service(rt, conn).definitions()


async def member_tiers_of(rt: Runtime, member_ids: list[int]) -> dict[int, MemberTier]:
    async with rt.read(*member_ids) as conn:
        return await _service(rt, conn).current_many(member_ids)


async def tier_progress(rt: Runtime, member_id: int) -> Progress | None:
    async with rt.read(member_id) as conn:
        return await _service(rt, conn).progress(member_id)


async def save_tier_definition(
    rt: Runtime, definition: TierDef, *, actor: Actor, expected_version: int | None = None
) -> SavedDefinition:
    async with unit_of_work(rt.engine) as conn:
        return await _service(rt, conn).save_definition(
            definition, actor=actor.principal, expected_version=expected_version
        )


async def tier_definition_versions(rt: Runtime, code: str | None) -> list[DefinitionVersion]:
    async with rt.read() as conn:
        return await _service(rt, conn).definition_versions(code)


async def tier_versions(rt: Runtime) -> dict[str, int]:
    async with rt.read() as conn:
        return await _service(rt, conn).definition_version_numbers()


async def tier_history(rt: Runtime, member_id: int) -> list[dict[str, Any]]:
    async with rt.read(member_id) as conn:
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
            changed += await _review_member(rt, member_id)
        after = due[-1]


async def _review_member(rt: Runtime, member_id: int) -> bool:
    """One member's review under its account lock; a closed member is refused, as any write."""
    async with unit_of_work(rt.engine) as conn:
        await lock_account(conn, member_id)
        if await member_status(conn, member_id) is MemberStatus.CLOSED:
            raise DomainError(ErrorCode.MEMBER_NOT_ACTIVE, "the member's account is closed")
        changed = await _service(rt, conn).review_member(member_id) is not None
    if changed:
        await rt.members_written([member_id])
    return changed
