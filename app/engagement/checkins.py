"""Daily sign-in: once per business day (the programme's timezone), streaks, make-up cards.

A check-in, in one transaction: lock the member's account (the ledger's lock, always first), read
the last sign-in, pay the schedule's reward through the reward log (``checkin:<day>:…`` keys:
never twice), insert today's row (its primary key ``(member_id, day)`` refuses a second one, even
from a request that raced past the read, and the refusal rolls the payment back) and append a
``signin.checked_in`` event to the member's topic. The points' ``points.earned`` event follows
the same path as any earn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.clock import Clock, business_date
from app.config import Settings
from app.engagement.rewards import Granted, RewardKind, Rewards, ensure_profile, lock_member
from app.engagement.streaks import DayReward, Schedule, current_streak, parse_schedule, streak_on
from app.engagement.tables import engagement_profiles, sign_ins, signin_schedules
from app.errors import DomainError, ErrorCode, invalid
from app.events.outbox import append_event, member_topic
from app.ledger.models import Actor, Entry

SIGNED_IN = "signin.checked_in"
MADE_UP = "signin.made_up"
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

    async def active_schedule_or_none(self) -> Schedule | None:
        row = (
            await self.conn.execute(select(signin_schedules).where(signin_schedules.c.active))
        ).first()
        return None if row is None else parse_schedule(row.code, row.name, row.spec)

    async def active_schedule(self) -> Schedule:
        schedule = await self.active_schedule_or_none()
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

    async def _last(self, member_id: int, before: date | None = None) -> Any:
        query = select(sign_ins.c.day, sign_ins.c.streak).where(sign_ins.c.member_id == member_id)
        if before is not None:
            query = query.where(sign_ins.c.day < before)
        return (await self.conn.execute(query.order_by(sign_ins.c.day.desc()).limit(1))).first()

    async def check_in(self, member_id: int, *, actor: Actor) -> CheckInResult:
        schedule = await self.active_schedule()  # read before the lock: the lock stays short
        day = self.today()
        await lock_member(self.conn, member_id)
        last = await self._last(member_id)
        if last is not None and last.day >= day:
            raise already_signed_in(day)
        streak = streak_on(day, last.day if last else None, last.streak if last else 0)
        reward = schedule.reward_for(streak)
        granted = await self._pay(member_id, day, streak, reward, actor)
        entry = next((g.entry for g in granted if g.entry is not None), None)
        # The day's row last, with its entry: its primary key is the last defence against a
        # second sign-in that raced past the lock (a refusal rolls the payment back with it).
        inserted = await self.conn.scalar(
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
        )
        if inserted is None:  # the lock makes this unreachable
            raise already_signed_in(day)
        result = SignIn(
            member_id, day, streak, False, reward.points, reward.gifts, reward.lottery_draws
        )
        await append_event(
            self.conn,
            member_topic(member_id),
            SIGNED_IN,
            {
                "member_id": member_id,
                "day": day.isoformat(),
                "streak": streak,
                "points": reward.points,
                "gifts": list(reward.gifts),
                "lottery_draws": reward.lottery_draws,
                "next_reward": schedule.reward_for(streak + 1).as_dict(),
            },
        )
        return CheckInResult(result, entry, tuple(granted))

    async def _pay(
        self, member_id: int, day: date, streak: int, reward: DayReward, actor: Actor
    ) -> list[Granted]:
        key = f"checkin:{day.isoformat()}"
        granted: list[Granted | None] = [
            await self.rewards.points(
                member_id,
                f"{key}:points",
                reward.points,
                source="checkin",
                reason=f"daily sign-in, day {streak} of the streak",
                actor=actor,
                details={"day": day.isoformat(), "streak": streak},
            )
        ]
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
        """Fill a missed day of this business month with a make-up card: the streak runs through
        it (later days are renumbered); the made-up day itself pays nothing."""
        today = self.today()
        if day >= today:
            raise invalid("only a past day can be made up", "day")
        if (day.year, day.month) != (today.year, today.month):
            raise invalid("only a day of the current month can be made up", "day")
        await lock_member(self.conn, member_id)
        signed = await self.conn.scalar(
            select(sign_ins.c.day).where(sign_ins.c.member_id == member_id, sign_ins.c.day == day)
        )
        if signed is not None:
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
        before = await self._last(member_id, before=day)
        streak = streak_on(day, before.day if before else None, before.streak if before else 0)
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
        schedule = await self.active_schedule_or_none()
        today = self.today()
        last = await self._last(member_id)
        last_day, last_streak = (last.day, last.streak) if last else (None, 0)
        streak = current_streak(today, last_day, last_streak)
        signed_today = last_day == today
        next_streak = streak + 1 if signed_today else streak_on(today, last_day, last_streak)
        cards = await self.conn.scalar(
            select(engagement_profiles.c.makeup_cards).where(
                engagement_profiles.c.member_id == member_id
            )
        )
        return StreakState(
            member_id=member_id,
            today=today,
            streak=streak,
            signed_in_today=signed_today,
            last_day=last_day,
            next_reward=None if schedule is None else schedule.reward_for(next_streak),
            makeup_cards=int(cards or 0),
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
