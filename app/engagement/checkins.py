"""Daily sign-in: once per business day (the programme's timezone), streaks, make-up cards.

A check-in, in one transaction: lock the member's account (the ledger's lock, always first) and
read, in one statement after it, the member's status, its last sign-in and the schedules'
generation (the active schedule is cached per process, app/configcache.py); earn the schedule's
points through the ledger; then one statement inserts today's row (its primary key
``(member_id, day)`` refuses a second one, even from a request that raced past the read), the
points' row in the reward log (``checkin:<day>:points``: never twice) and the
``signin.checked_in`` event on the member's topic. Either row already there refuses the check-in,
and the refusal rolls the earn back with it. The points' ``points.earned`` event follows the same
path as any earn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.clock import Clock, business_date
from app.config import Settings
from app.configcache import GenerationCache, generation_of
from app.engagement.rewards import (
    Granted,
    PointsReward,
    RewardKind,
    Rewards,
    ensure_profile,
    lock_member,
    log_row,
)
from app.engagement.streaks import DayReward, Schedule, current_streak, parse_schedule, streak_on
from app.engagement.tables import engagement_profiles, sign_ins, signin_schedules
from app.errors import DomainError, ErrorCode, invalid
from app.events.outbox import append_event, event_for_each, member_topic
from app.ledger.models import Actor, Entry
from app.members.tables import members

SIGNED_IN = "signin.checked_in"
MADE_UP = "signin.made_up"
# The active schedule (none or one) as of a generation of the schedules table, per process
# (app/configcache.py): every check-in needs it, staff change it rarely.
ACTIVE_SCHEDULE: GenerationCache[tuple[Schedule, ...]] = GenerationCache()
# How far back a streak's rows are read to renumber a run after a make-up (a year of days).
RUN_LOOKAHEAD = 400


@dataclass(frozen=True)
class SignIn:
    member_id: int
    day: date
    streak: int
    made_up: bool
    points: int
    gifts: tuple[str, ...]
    lottery_draws: int

    @property
    def reward(self) -> DayReward:
        """What the day gave."""
        return DayReward(self.points, self.gifts, self.lottery_draws)


@dataclass(frozen=True)
class CheckInResult:
    sign_in: SignIn
    entry: Entry | None
    granted: tuple[Granted, ...]


@dataclass(frozen=True)
class StreakState:
    """What a front end shows: today's streak, whether today is done, what the next pays."""

    member_id: int
    today: date
    streak: int
    signed_in_today: bool
    last_day: date | None
    next_reward: DayReward | None  # None while the programme has no active schedule
    makeup_cards: int


def _sign_in(row: Any) -> SignIn:
    rewards = row.rewards or {}
    return SignIn(
        member_id=row.member_id,
        day=row.day,
        streak=row.streak,
        made_up=row.made_up,
        points=row.points,
        gifts=tuple(rewards.get("gifts", [])),
        lottery_draws=int(rewards.get("lottery_draws", 0)),
    )


def checkin_key(day: date) -> str:
    """What a day's sign-in rewards are keyed by (``…:points`` its points)."""
    return f"checkin:{day.isoformat()}"


def checkin_reason(streak: int) -> str:
    """The points' entry reason (migration 0033 writes the same words)."""
    return f"daily sign-in, day {streak} of the streak"


def already_signed_in(day: date) -> DomainError:
    return DomainError(ErrorCode.ALREADY_EXISTS, f"already signed in on {day.isoformat()}", "day")


class SignIns:
    def __init__(self, conn: AsyncConnection, clock: Clock, settings: Settings) -> None:
        self.conn = conn
        self.clock = clock
        self.settings = settings
        self.rewards = Rewards.of(conn, clock, settings)

    def today(self) -> date:
        return business_date(self.clock.now(), self.settings.timezone)

    # ------------------------------------------------------------------------ schedules

    async def active_schedule_or_none(self, generation: str | None = None) -> Schedule | None:
        """The active schedule; from the process's cache when ``generation`` (the schedules
        table's, read in this transaction) is the one it was cached at (app/configcache.py)."""
        active = ACTIVE_SCHEDULE.get(generation)
        if active is None:
            query = select(signin_schedules).where(signin_schedules.c.active)
            row = (await self.conn.execute(query)).first()
            active = () if row is None else (parse_schedule(row.code, row.name, row.spec),)
            if generation is not None:
                ACTIVE_SCHEDULE.put(generation, active)
        return active[0] if active else None

    async def active_schedule(self, generation: str | None = None) -> Schedule:
        schedule = await self.active_schedule_or_none(generation)
        if schedule is None:
            raise DomainError(ErrorCode.NOT_FOUND, "the programme has no active sign-in schedule")
        return schedule

    async def schedules(self) -> list[tuple[Schedule, bool]]:
        rows = await self.conn.execute(select(signin_schedules).order_by(signin_schedules.c.code))
        return [(parse_schedule(r.code, r.name, r.spec), r.active) for r in rows]

    async def save_schedule(self, schedule: Schedule, *, activate: bool, actor: Actor) -> None:
        """Create or replace a schedule; activating it deactivates the others (one active)."""
        now = self.clock.now()
        # One writer at a time, so two activations cannot both pass the partial unique index.
        await self.conn.execute(select(signin_schedules.c.code).with_for_update())
        if activate:
            await self.conn.execute(
                signin_schedules.update().where(signin_schedules.c.active).values(active=False)
            )
        values = {
            "name": schedule.name,
            "spec": schedule.as_spec(),
            "updated_at": now,
            "updated_by": actor.principal,
        }
        statement = insert(signin_schedules).values(code=schedule.code, active=activate, **values)
        update = {**values, "active": signin_schedules.c.active | activate}
        await self.conn.execute(
            statement.on_conflict_do_update(index_elements=["code"], set_=update)
        )

    # ----------------------------------------------------------------------- check-in

    @staticmethod
    def _last(member_id: int, column: Any, before: date | None = None) -> Any:
        """``column`` of the member's last sign-in (before ``before``), a scalar subquery."""
        query = select(column).where(sign_ins.c.member_id == member_id)
        if before is not None:
            query = query.where(sign_ins.c.day < before)
        return query.order_by(sign_ins.c.day.desc()).limit(1).scalar_subquery()

    async def check_in(self, member_id: int, *, actor: Actor) -> CheckInResult:
        day = self.today()
        member, account = await self.rewards.lock_for_earn(
            member_id,
            self._last(member_id, sign_ins.c.day).label("last_day"),
            self._last(member_id, sign_ins.c.streak).label("last_streak"),
            generation_of(signin_schedules).label("schedules"),
        )
        schedule = await self.active_schedule(member.schedules)
        if member.last_day is not None and member.last_day >= day:
            raise already_signed_in(day)
        streak = streak_on(day, member.last_day, member.last_streak or 0)
        reward = schedule.reward_for(streak)
        key = checkin_key(day)
        points = PointsReward(
            f"{key}:points",
            reward.points,
            "checkin",
            checkin_reason(streak),
            {"day": day.isoformat(), "streak": streak},
        )
        entry, granted = None, []
        if points.points > 0:
            entry = await self.rewards.earn(member_id, points, actor=actor, lock=account)
            granted.append(Granted(RewardKind.POINTS, points.key, points.points, entry=entry))
        await self._record_day(member_id, day, streak, reward, schedule, points, entry)
        granted += await self.give_items(member_id, day, reward)
        result = SignIn(
            member_id, day, streak, False, reward.points, reward.gifts, reward.lottery_draws
        )
        return CheckInResult(result, entry, tuple(granted))

    async def _record_day(
        self,
        member_id: int,
        day: date,
        streak: int,
        reward: DayReward,
        schedule: Schedule,
        points: PointsReward,
        entry: Entry | None,
    ) -> None:
        """Today's row, the points' reward-log row and the streak event, in one statement. A
        row already there (a second sign-in that raced past the lock: the lock makes it
        unreachable) refuses the check-in, which rolls back the earn made before."""
        signed = (
            insert(sign_ins)
            .values(
                member_id=member_id,
                day=day,
                streak=streak,
                made_up=False,
                points=reward.points,
                rewards={"gifts": list(reward.gifts), "lottery_draws": reward.lottery_draws},
                schedule_code=schedule.code,
                entry_id=None if entry is None else entry.id,
                created_at=self.clock.now(),
            )
            .on_conflict_do_nothing()
            .returning(sign_ins.c.day)
            .cte("signed")
        )
        payload = {
            "member_id": member_id,
            "day": day.isoformat(),
            "streak": streak,
            "points": reward.points,
            "gifts": list(reward.gifts),
            "lottery_draws": reward.lottery_draws,
            "next_reward": schedule.reward_for(streak + 1).as_dict(),
        }
        announced = event_for_each(signed, member_topic(member_id), SIGNED_IN, payload).cte(
            "announced"
        )
        ctes = [signed, announced]
        written = [select(func.count()).select_from(signed).scalar_subquery()]
        if entry is not None:
            row = self.rewards.log_values(
                member_id,
                points.key,
                RewardKind.POINTS,
                points.source,
                points=points.points,
                details=points.details,
                entry_id=entry.id,
            )
            logged = log_row(row).cte("logged")
            ctes.append(logged)
            written.append(select(func.count()).select_from(logged).scalar_subquery())
        counts = (await self.conn.execute(select(*written).add_cte(*ctes))).one()
        if not all(counts):
            raise already_signed_in(day)

    async def give_items(self, member_id: int, day: date, reward: DayReward) -> list[Granted]:
        """The day's gifts and lottery draws (the schedules' special days), through the log."""
        key = checkin_key(day)
        granted: list[Granted | None] = []
        for n, gift in enumerate(reward.gifts):
            granted.append(
                await self.rewards.item(
                    member_id, f"{key}:gift:{n}", RewardKind.GIFT, source="checkin", item=gift
                )
            )
        granted.append(
            await self.rewards.item(
                member_id,
                f"{key}:lottery_draw",
                RewardKind.LOTTERY_DRAW,
                source="checkin",
                quantity=reward.lottery_draws,
            )
        )
        return [g for g in granted if g is not None]

    # ------------------------------------------------------------------------- make-up

    async def make_up(self, member_id: int, day: date, *, actor: Actor) -> SignIn:
        """Fill a missed day of this business month, not before the member's registration day,
        with a make-up card: the streak runs through it (later days are renumbered); the
        made-up day itself pays nothing."""
        today = self.today()
        if day >= today:
            raise invalid("only a past day can be made up", "day")
        if (day.year, day.month) != (today.year, today.month):
            raise invalid("only a day of the current month can be made up", "day")
        member = await lock_member(
            self.conn,
            member_id,
            select(sign_ins.c.day)
            .where(sign_ins.c.member_id == member_id, sign_ins.c.day == day)
            .exists()
            .label("signed"),
            self._last(member_id, sign_ins.c.day, before=day).label("before_day"),
            self._last(member_id, sign_ins.c.streak, before=day).label("before_streak"),
            members.c.created_at,
        )
        registered = business_date(member.created_at, self.settings.timezone)
        if day < registered:
            raise invalid(
                f"the member registered on {registered.isoformat()}: an earlier day cannot be "
                "made up",
                "day",
            )
        if member.signed:
            raise already_signed_in(day)
        await ensure_profile(self.conn, member_id)
        cards = await self.conn.scalar(
            engagement_profiles.update()
            .where(
                engagement_profiles.c.member_id == member_id,
                engagement_profiles.c.makeup_cards > 0,
            )
            .values(makeup_cards=engagement_profiles.c.makeup_cards - 1)
            .returning(engagement_profiles.c.makeup_cards)
        )
        if cards is None:
            raise DomainError(ErrorCode.LIMIT_REACHED, "no make-up card left", "day")
        streak = streak_on(day, member.before_day, member.before_streak or 0)
        await self.conn.execute(
            sign_ins.insert().values(
                member_id=member_id,
                day=day,
                streak=streak,
                made_up=True,
                points=0,
                rewards={"gifts": [], "lottery_draws": 0},
                created_at=self.clock.now(),
            )
        )
        await self._renumber_after(member_id, day, streak)
        await append_event(
            self.conn,
            member_topic(member_id),
            MADE_UP,
            {
                "member_id": member_id,
                "day": day.isoformat(),
                "streak": streak,
                "by": actor.principal,
            },
        )
        return SignIn(member_id, day, streak, True, 0, (), 0)

    async def _renumber_after(self, member_id: int, day: date, streak: int) -> None:
        """The run of consecutive days after ``day`` continues from ``streak`` now."""
        rows = await self.conn.execute(
            select(sign_ins.c.day)
            .where(sign_ins.c.member_id == member_id, sign_ins.c.day > day)
            .order_by(sign_ins.c.day)
            .limit(RUN_LOOKAHEAD)
        )
        expected, run = day + timedelta(days=1), []
        for row in rows:
            if row.day != expected:
                break
            run.append(row.day)
            expected += timedelta(days=1)
        for offset, following in enumerate(run, start=1):
            await self.conn.execute(
                sign_ins.update()
                .where(sign_ins.c.member_id == member_id, sign_ins.c.day == following)
                .values(streak=streak + offset)
            )

    # --------------------------------------------------------------------------- reads

    async def state(self, member_id: int) -> StreakState:
        today = self.today()
        row = (
            await self.conn.execute(
                select(
                    self._last(member_id, sign_ins.c.day).label("last_day"),
                    self._last(member_id, sign_ins.c.streak).label("last_streak"),
                    select(engagement_profiles.c.makeup_cards)
                    .where(engagement_profiles.c.member_id == member_id)
                    .scalar_subquery()
                    .label("cards"),
                    generation_of(signin_schedules).label("schedules"),
                )
            )
        ).one()
        schedule = await self.active_schedule_or_none(row.schedules)
        last_day, last_streak = row.last_day, row.last_streak or 0
        streak = current_streak(today, last_day, last_streak)
        signed_today = last_day == today
        next_streak = streak + 1 if signed_today else streak_on(today, last_day, last_streak)
        return StreakState(
            member_id=member_id,
            today=today,
            streak=streak,
            signed_in_today=signed_today,
            last_day=last_day,
            next_reward=None if schedule is None else schedule.reward_for(next_streak),
            makeup_cards=int(row.cards or 0),
        )

    async def month(self, member_id: int, year: int, month: int) -> list[SignIn]:
        first = date(year, month, 1)
        after = date(year + month // 12, month % 12 + 1, 1)
        rows = await self.conn.execute(
            select(sign_ins)
            .where(
                sign_ins.c.member_id == member_id,
                sign_ins.c.day >= first,
                sign_ins.c.day < after,
            )
            .order_by(sign_ins.c.day)
        )
        return [_sign_in(row) for row in rows]
