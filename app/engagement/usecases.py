"""Engagement use cases: one unit of work each; the API layers call these."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import retry_on_lost_connection, unit_of_work
from app.engagement import hooks
from app.engagement import teams as teams_module
from app.engagement.checkins import CheckInResult, SignIn, SignIns, StreakState
from app.engagement.onetrip import check_in_first, check_in_in_one_trip
from app.engagement.referrals import Referral, Referrals, ReferralSummary
from app.engagement.rewards import Granted, RewardKind, lock_member
from app.engagement.streaks import DEMO_ACTIVE_SCHEDULE, DEMO_SCHEDULES, Schedule, parse_schedule
from app.engagement.tasks import Task
from app.engagement.teams import Badge, MemberBadge, Standing, Team, Teams
from app.engagement.tracker import TaskRecord, TaskStatus, TaskTracker, TaskUpdate
from app.errors import invalid
from app.ledger.idempotency import check_key
from app.ledger.models import Actor
from app.runtime import Runtime

MAX_CARDS_AT_ONCE = 100


def _signins(rt: Runtime, conn: AsyncConnection) -> SignIns:
    return SignIns(conn, rt.clock, rt.settings)


# The check-in's common case in one statement (app/engagement/onetrip.py): a lost connection
# before it is sent is retried (a check-in is once a day: a retry that finds it done is refused).
_check_in_in_one_trip = retry_on_lost_connection(check_in_in_one_trip)


async def check_in(
    rt: Runtime, actor: Actor, member_id: int, *, admit: Callable[[], Awaitable[None]] | None = None
) -> CheckInResult:
    """``admit``: the caller's own check, run only when the one statement declined (it signs in
    an active member only: the API reads a member's standing then, not before)."""
    done = await _check_in_in_one_trip(rt, actor, member_id)
    if done is not None:
        return done
    if admit is not None:
        await admit()
    async with unit_of_work(rt.engine) as conn:
        signins = _signins(rt, conn)
        result = await check_in_first(rt, conn, actor, member_id)
        if result is None:
            result = await signins.check_in(member_id, actor=actor)
        else:
            items = await signins.give_items(member_id, result.sign_in.day, result.sign_in.reward)
            result = replace(result, granted=result.granted + tuple(items))
        await hooks.signed_in(rt, conn, actor, member_id=member_id, points=result.sign_in.points)
        return result


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
    check_key(idempotency_key)
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
    async with rt.read() as conn:
        return await _signins(rt, conn).schedules()


async def streak_state(rt: Runtime, member_id: int) -> StreakState:
    async with rt.read(member_id) as conn:
        return await _signins(rt, conn).state(member_id)


async def month_sign_ins(rt: Runtime, member_id: int, year: int, month: int) -> list[SignIn]:
    async with rt.read(member_id) as conn:
        return await _signins(rt, conn).month(member_id, year, month)


async def seed_schedules(rt: Runtime, actor: Actor) -> None:
    """The demo's schedules, once: an operator's later changes are never overwritten."""
    existing = {schedule.code for schedule, _ in await list_schedules(rt)}
    for code, (name, spec) in DEMO_SCHEDULES.items():
        if code not in existing:
            await save_schedule(rt, actor, code, name, spec, activate=code == DEMO_ACTIVE_SCHEDULE)


# ------------------------------------------------------------------------------------- tasks


def _tracker(rt: Runtime, conn: AsyncConnection) -> TaskTracker:
    return TaskTracker(conn, rt.clock, rt.settings)


async def create_task(
    rt: Runtime, actor: Actor, code: str, spec: Mapping[str, Any], *, enabled: bool = True
) -> TaskRecord:
    async with unit_of_work(rt.engine) as conn:
        return await _tracker(rt, conn).create(code, spec, actor=actor, enabled=enabled)


async def update_task(
    rt: Runtime,
    actor: Actor,
    code: str,
    spec: Mapping[str, Any] | None,
    *,
    enabled: bool | None = None,
    expected_version: int | None = None,
) -> TaskRecord:
    async with unit_of_work(rt.engine) as conn:
        tracker = _tracker(rt, conn)
        found = await tracker.find(code)
        return await tracker.update(
            found.task.id, spec, actor=actor, enabled=enabled, expected_version=expected_version
        )


async def list_tasks(
    rt: Runtime, *, enabled: bool | None = None, for_member: int | None = None
) -> list[TaskRecord]:
    """The programme's tasks; for a member (``for_member``), only those open to its segment."""
    async with rt.read(*([] if for_member is None else [for_member])) as conn:
        tracker = _tracker(rt, conn)
        if for_member is None:
            return await tracker.all(enabled=enabled)
        return await tracker.all_for(for_member, enabled=enabled)


async def complete_task(rt: Runtime, actor: Actor, member_id: int, code: str) -> TaskUpdate:
    async with unit_of_work(rt.engine) as conn:
        await lock_member(conn, member_id)
        return await _tracker(rt, conn).complete_manual(member_id, code, actor=actor)


async def task_centre(rt: Runtime, member_id: int) -> list[TaskStatus]:
    async with rt.read(member_id) as conn:
        return await _tracker(rt, conn).centre(member_id)


# -------------------------------------------------------------------------- teams and boards


def _teams(rt: Runtime, conn: AsyncConnection) -> Teams:
    return Teams(conn, rt.clock, rt.settings)


async def create_team(
    rt: Runtime, actor: Actor, task_code: str, captain_id: int, name: str
) -> Team:
    async with unit_of_work(rt.engine) as conn:
        return await _teams(rt, conn).create(task_code, captain_id, name, actor=actor)


async def join_team(rt: Runtime, actor: Actor, code: str, member_id: int) -> Team:
    async with unit_of_work(rt.engine) as conn:
        return await _teams(rt, conn).join(code, member_id, actor=actor)


async def get_team(rt: Runtime, code: str) -> tuple[Team, list[int], Decimal]:
    async with rt.read() as conn:
        return await _teams(rt, conn).get(code)


async def challenge_board(
    rt: Runtime, task_code: str, top: int, member_id: int | None = None
) -> tuple[Task, str, list[Standing], Standing | None]:
    """The challenge's members, best first, and ``member_id``'s own standing (one snapshot)."""
    async with rt.read(*([] if member_id is None else [member_id])) as conn:
        teams = _teams(rt, conn)
        task, period, standings = await teams.member_board(task_code, top)
        mine = None if member_id is None else await teams.member_rank(task, period, member_id)
        return task, period, standings, mine


async def team_board(rt: Runtime, task_code: str, top: int) -> tuple[Task, str, list[Standing]]:
    async with rt.read() as conn:
        return await _teams(rt, conn).team_board(task_code, top)


async def find_task(rt: Runtime, code: str) -> TaskRecord:
    async with rt.engine.connect() as conn:
        return await _tracker(rt, conn).find(code)


# ------------------------------------------------------------------------------------ badges


async def save_badge(rt: Runtime, badge: Badge) -> Badge:
    async with unit_of_work(rt.engine) as conn:
        return await teams_module.save_badge(conn, rt.clock, badge)


async def list_badges(rt: Runtime) -> list[Badge]:
    async with rt.read() as conn:
        return await teams_module.list_badges(conn)


async def member_badges(rt: Runtime, member_id: int) -> list[MemberBadge]:
    async with rt.read(member_id) as conn:
        return await teams_module.badges_of(conn, member_id)


# --------------------------------------------------------------------------------- referrals


def _referrals(rt: Runtime, conn: AsyncConnection) -> Referrals:
    return Referrals(conn, rt.clock, rt.settings)


async def accept_invite(rt: Runtime, actor: Actor, friend_id: int, code: str) -> Referral:
    async with unit_of_work(rt.engine) as conn:
        return await _referrals(rt, conn).accept(friend_id, code, actor=actor)


async def issue_invite_code(rt: Runtime, member_id: int) -> str:
    """The member's invite code, made on the first request (the same one after)."""
    async with unit_of_work(rt.engine) as conn:
        return await _referrals(rt, conn).issue_code(member_id)


async def referral_summary(rt: Runtime, member_id: int) -> ReferralSummary:
    """The member's invite code (None until issued), referrer and friends; writes nothing."""
    async with rt.read(member_id) as conn:
        return await _referrals(rt, conn).summary(member_id)
