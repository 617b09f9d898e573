"""Engagement use cases: one unit of work each; the API layers call these."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import unit_of_work
from app.engagement.checkins import CheckInResult, SignIn, SignIns, StreakState
from app.engagement.rewards import Granted, RewardKind, lock_member
from app.engagement.streaks import DEMO_ACTIVE_SCHEDULE, DEMO_SCHEDULES, Schedule, parse_schedule
from app.errors import invalid
from app.ledger.models import Actor
from app.runtime import Runtime

MAX_CARDS_AT_ONCE = 100


def _signins(rt: Runtime, conn: AsyncConnection) -> SignIns:
    return SignIns(conn, rt.clock, rt.settings)


async def check_in(rt: Runtime, actor: Actor, member_id: int) -> CheckInResult:
    async with unit_of_work(rt.engine) as conn:
        return await _signins(rt, conn).check_in(member_id, actor=actor)


async def make_up_sign_in(rt: Runtime, actor: Actor, member_id: int, day: date) -> SignIn:
    async with unit_of_work(rt.engine) as conn:
        return await _signins(rt, conn).make_up(member_id, day, actor=actor)


async def grant_makeup_cards(
    rt: Runtime, actor: Actor, member_id: int, count: int, *, reason: str, idempotency_key: str
) -> Granted | None:
    """Staff give make-up cards; idempotent on the key (None: that key was already granted)."""
    if not 1 <= count <= MAX_CARDS_AT_ONCE:
        raise invalid(f"count must be from 1 to {MAX_CARDS_AT_ONCE}", "count")
    if not reason.strip() or len(reason) > 500:
        raise invalid("reason must be 1..500 characters", "reason")
    if not idempotency_key or len(idempotency_key) > 128:
        raise invalid("idempotency key must be 1..128 characters", "idempotencyKey")
    async with unit_of_work(rt.engine) as conn:
        await lock_member(conn, member_id)
        return await _signins(rt, conn).rewards.item(
            member_id,
            f"staff:{actor.principal}:{idempotency_key}",
            RewardKind.MAKEUP_CARD,
            source="staff",
            quantity=count,
            details={"reason": reason},
        )


async def save_schedule(
    rt: Runtime, actor: Actor, code: str, name: str, spec: dict[str, Any], *, activate: bool
) -> Schedule:
    schedule = parse_schedule(code, name, spec)
    async with unit_of_work(rt.engine) as conn:
        await _signins(rt, conn).save_schedule(schedule, activate=activate, actor=actor)
    return schedule


async def list_schedules(rt: Runtime) -> list[tuple[Schedule, bool]]:
    async with rt.engine.connect() as conn:
        return await _signins(rt, conn).schedules()


async def streak_state(rt: Runtime, member_id: int) -> StreakState:
    async with rt.engine.connect() as conn:
        return await _signins(rt, conn).state(member_id)


async def month_sign_ins(rt: Runtime, member_id: int, year: int, month: int) -> list[SignIn]:
    async with rt.engine.connect() as conn:
        return await _signins(rt, conn).month(member_id, year, month)


async def seed_schedules(rt: Runtime, actor: Actor) -> None:
    """The demo's schedules, once: an operator's later changes are never overwritten."""
    existing = {schedule.code for schedule, _ in await list_schedules(rt)}
    for code, (name, spec) in DEMO_SCHEDULES.items():
        if code not in existing:
            await save_schedule(rt, actor, code, name, spec, activate=code == DEMO_ACTIVE_SCHEDULE)
