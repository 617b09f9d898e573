"""A check-in in one round trip: the common case of ``checkIn`` as one statement.

The ordinary path (:meth:`app.engagement.checkins.SignIns.check_in` then the task hooks) runs a
check-in as a transaction of ten statements, all under the member's account lock. Here the same
writes run inside PostgreSQL, in ``engagement_check_in()`` (migration 0033), sent in autocommit:
the account locked, the member's status, last sign-in and the schedules' generation read after
the lock, the streak and its day's reward, the earn (the ledger's credit,
``ledger_credit_locked()``, shared with ``earnPoints``), today's row, its event, the points'
reward log row and the member's activity note.

It is tried only when this process has the active schedule and the enabled tasks cached
(app/configcache.py). The tasks a check-in feeds that day (the sign-in's, then its points') go
with it, and the statement advances their progress and appends their events as the task tracker
would (migration 0038: a count, distinct or consecutive days, points). The statement checks under
the lock what the process could not know (the member is active — the API sends it without
reading the member's standing first, migration 0042 —, the schedules' and the tasks'
generations are still the cached ones, the day pays no gift or lottery draw, no task completes,
the member is not back from dormancy, the account has nothing to settle) and otherwise writes
nothing and declines: the caller runs the ordinary path, which answers exactly as it always did.
An active member already signed in for the day is refused here, nothing written.

When it declines, :func:`check_in_first` sends the same statement as the first of the ordinary
path's transaction, without those checks: the task progress (and a completion's rewards),
win-back and the day's gifts and draws follow it in that transaction, under the lock it took.

Group commit: the check-ins this process has in hand at the same moment go out together,
``engagement_check_ins()`` (migration 0058) through the process's
:class:`app.groupcommit.Batcher` (no timer, faults as one statement's), each member's outcome
its own — done, already signed in, declined (that member alone takes the ordinary path) or
failed (sent again alone, so its answer is the one it would have had alone).
``JIFEN_CHECKIN_BATCH_MAX`` caps a batch; 0 sends each check-in alone.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.clock import business_date
from app.configcache import GenerationCache
from app.db import autocommit_fetch
from app.engagement.checkins import (
    ACTIVE_SCHEDULE,
    CheckInResult,
    SignIn,
    already_signed_in,
    checkin_key,
    checkin_reason,
)
from app.engagement.rewards import Granted, RewardKind
from app.engagement.streaks import Schedule
from app.engagement.tasks import Metric, Occurrence, Task, TaskTrigger, matches
from app.engagement.tracker import ENABLED_TASKS
from app.groupcommit import ALONE, Batcher, Outcome, outcomes_by_index
from app.ledger.models import Actor, EntryKind
from app.ledger.movements import credit_dates
from app.ledger.onetrip import credited_entry
from app.ledger.policy import LedgerPolicy
from app.runtime import Runtime

CHECK_IN = (
    "SELECT * FROM engagement_check_in($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
    " $14, $15, $16, $17)"
)
# Many check-ins, each one's arguments in an array of its column (migration 0058).
CHECK_INS = CHECK_IN.replace("engagement_check_in(", "engagement_check_ins(")
COUNTER_ACCOUNT = "issuance"  # where a sign-in's points come from (the ledger's Earn default)
# Occurrences a check-in feeds to tasks: the sign-in, and its points (app/engagement/hooks.py).
FED_BY_A_CHECK_IN = (TaskTrigger.SIGN_IN, TaskTrigger.POINTS)


@dataclass(frozen=True)
class _Rewards:
    """A schedule as the statement takes it: each cycle position's reward (JSON, position 1
    first) and the most points a day of it pays."""

    schedule: Schedule
    positions: str
    most_points: int


# The active schedule's rewards, per schedules generation (built once, not per check-in).
_REWARDS: GenerationCache[_Rewards] = GenerationCache()


def _rewards(generation: str, schedule: Schedule) -> _Rewards:
    kept = _REWARDS.get(generation)
    if kept is not None and kept.schedule is schedule:
        return kept
    days = [schedule.reward_for(n) for n in range(1, schedule.cycle_days + 1)]
    positions = json.dumps([day.as_dict() for day in days])
    return _REWARDS.put(generation, _Rewards(schedule, positions, max(d.points for d in days)))


@dataclass(frozen=True)
class _Fed:
    """The enabled tasks a check-in feeds on ``day``, as the statement takes them (JSON), or
    None when one of them counts what the statement does not (then the ordinary path runs)."""

    enabled: list[Task]
    day: date
    tasks: str | None


# The fed tasks per tasks generation, for the day they were worked out for.
_FED: GenerationCache[_Fed] = GenerationCache()
# What the statement advances itself (migration 0038): a count, days, points.
HANDLED_METRICS = (Metric.COUNT, Metric.DAYS, Metric.POINTS)


def _fed_json(enabled: list[Task], day: date) -> str | None:
    fed = [
        (task, trigger)
        for trigger in FED_BY_A_CHECK_IN  # the tracker's order: the occurrences', then the tasks'
        for task in enabled
        if matches(task, Occurrence(trigger, day))
    ]
    if any(task.metric not in HANDLED_METRICS for task, _ in fed):
        return None
    return json.dumps(
        [
            {
                "id": task.id,
                "code": task.code,
                "trigger": trigger.value,
                "metric": task.metric.value,
                "consecutive": task.consecutive,
                "target": str(task.target),
                "max_completions": task.max_completions,
                "period": task.period_of(day),
                "segments": None if task.segments is None else list(task.segments),
                "challenge": task.leaderboard or bool(task.team_size),
            }
            for task, trigger in fed
        ]
    )


def _fed_tasks(day: date) -> tuple[str, str] | None:
    """The tasks' generation and the tasks a check-in feeds on ``day`` (JSON) when this process
    has the enabled tasks cached and the statement can advance every one of them; else None."""
    kept = ENABLED_TASKS.kept()
    if kept is None:
        return None
    generation, enabled = kept
    fed = _FED.get(generation)
    if fed is None or fed.enabled is not enabled or fed.day != day:
        fed = _FED.put(generation, _Fed(enabled, day, _fed_json(enabled, day)))
    return None if fed.tasks is None else (generation, fed.tasks)


@dataclass(frozen=True)
class _Call:
    """The statement's arguments, and what its answer is read with."""

    day: date
    now: datetime
    schedule: Schedule
    arguments: tuple[Any, ...]


def _call(rt: Runtime, actor: Actor, member_id: int, *, one_trip: bool) -> _Call | None:
    """The statement's arguments (``p_tasks`` and ``p_fed`` given in the one-trip mode), or None
    when this process has not cached what it needs (the active schedule; in the one-trip mode,
    the enabled tasks, each fed one the statement can advance)."""
    settings, now = rt.settings, rt.clock.now()
    day = business_date(now, settings.timezone)
    schedule = ACTIVE_SCHEDULE.kept()
    fed = _fed_tasks(day) if one_trip else None
    if schedule is None or not schedule[1] or (one_trip and fed is None):
        return None
    tasks, fed_tasks = (None, None) if fed is None else fed
    generation, (active, *_) = schedule
    rewards = _rewards(generation, active)
    policy = LedgerPolicy.from_settings(settings)
    if rewards.most_points > policy.max_amount:
        return None  # the ledger's path refuses such a day in its own words
    available_at, expires_at = credit_dates(policy, now, None, None, None)
    entry_event: dict[str, Any] = {"kind": EntryKind.EARN.value, "source": actor.source}
    entry_event |= {"reverses_entry_id": None, "created_at": now.isoformat()}
    arguments = (
        member_id,
        day,
        now,
        generation,
        active.code,
        rewards.positions,
        tasks,
        now - timedelta(days=settings.engagement_winback_dormant_days),
        COUNTER_ACCOUNT,
        actor.source,
        actor.principal,
        actor.kind,
        actor.partner_channel,
        available_at,
        expires_at,
        json.dumps(entry_event),
        fed_tasks,
    )
    return _Call(day, now, active, arguments)


async def check_in_in_one_trip(rt: Runtime, actor: Actor, member_id: int) -> CheckInResult | None:
    """The check-in made and committed by one statement, or None: nothing written, run the
    ordinary path (see the module's docstring)."""
    call = _call(rt, actor, member_id, one_trip=True)
    if call is None:
        return None
    batcher = check_in_batcher(rt)
    if batcher is not None:
        outcome = await batcher.post(call.arguments)
        if outcome is None:  # declined: nothing written
            return None
        if outcome is not ALONE:
            return _result(outcome, call, member_id, actor, committed=True)
    async with rt.engine.connect() as conn:
        try:
            rows = await autocommit_fetch(conn, CHECK_IN, *call.arguments)
        except asyncpg.UniqueViolationError:  # a row of today's already there: nothing written
            raise already_signed_in(call.day) from None
    return _result(rows[0], call, member_id, actor, committed=True)


async def check_in_many(engine: AsyncEngine, calls: Sequence[tuple[Any, ...]]) -> list[Outcome]:
    """One statement for the check-ins' arguments: each one's outcome, in their order."""
    columns = [list(column) for column in zip(*calls, strict=True)]
    async with engine.connect() as conn:
        rows = await autocommit_fetch(conn, CHECK_INS, *columns)
    return outcomes_by_index(rows, len(calls))


def check_in_batcher(rt: Runtime) -> Batcher[tuple[Any, ...]] | None:
    """The runtime's batcher on the running event loop (None: JIFEN_CHECKIN_BATCH_MAX is 0)."""
    cap = rt.settings.checkin_batch_max
    if cap == 0:
        return None
    batcher: Batcher[tuple[Any, ...]] | None = rt.caches.get(BATCHER)
    if batcher is None or batcher.loop is not asyncio.get_running_loop():
        batcher = rt.caches[BATCHER] = Batcher(rt.engine, cap, check_in_many, BATCH_TASK)
    return batcher


BATCHER = "engagement.check_in_batcher"
BATCH_TASK = "checkin-batch"  # the name of the task that sends a batch


async def check_in_first(
    rt: Runtime, conn: AsyncConnection, actor: Actor, member_id: int
) -> CheckInResult | None:
    """The same statement as the first of the caller's transaction, which feeds the tasks and
    gives the day's gifts and draws after it (the ordinary path's other statements), or None:
    nothing written, run :meth:`SignIns.check_in` in the same transaction."""
    call = _call(rt, actor, member_id, one_trip=False)
    if call is None:
        return None
    try:
        rows = (await conn.exec_driver_sql(CHECK_IN, call.arguments)).mappings().all()
    except IntegrityError:  # a row of today's already there: the transaction rolls back
        raise already_signed_in(call.day) from None
    return _result(rows[0], call, member_id, actor, committed=False)


def _result(
    row: Any, call: _Call, member_id: int, actor: Actor, *, committed: bool
) -> CheckInResult | None:
    day = call.day
    if row["out_outcome"] == "already":
        raise already_signed_in(day)
    if row["out_outcome"] != "signed":
        return None
    streak = row["out_streak"]
    reward = call.schedule.reward_for(streak)
    sign_in = SignIn(
        member_id, day, streak, False, reward.points, reward.gifts, reward.lottery_draws
    )
    if row["out_entry_id"] is None:
        return CheckInResult(sign_in, None, ())
    key = f"{checkin_key(day)}:points"
    reason = checkin_reason(streak)
    entry = credited_entry(
        row, member_id, reward.points, reason, key, actor, call.now, committed=committed
    )
    granted = Granted(RewardKind.POINTS, key, reward.points, entry=entry)
    return CheckInResult(sign_in, entry, (granted,))
