"""Daily sign-in: streaks, sign-ins, schedules, and the sign-in mutations' payloads."""

from __future__ import annotations

from datetime import date

import strawberry

from app.engagement.checkins import SignIn, StreakState
from app.engagement.streaks import DayReward, Schedule
from app.graphql.core.context import Info
from app.graphql.core.fields import node_id
from app.graphql.ledger.types import BalanceNode, EntryNode


@strawberry.type(name="DayReward", description="What one sign-in pays.")
class DayRewardNode:
    points: int
    gifts: list[str]
    lottery_draws: int

    @classmethod
    def of(cls, reward: DayReward) -> DayRewardNode:
        return cls(
            points=reward.points, gifts=list(reward.gifts), lottery_draws=reward.lottery_draws
        )


@strawberry.type(name="SignIn", description="One business day signed in.")
class SignInNode:
    day: date
    streak: int = strawberry.field(description="Consecutive business days up to this one.")
    made_up: bool = strawberry.field(description="Filled later with a make-up card (pays 0).")
    points: int
    gifts: list[str]
    lottery_draws: int

    @classmethod
    def of(cls, s: SignIn) -> SignInNode:
        return cls(
            day=s.day,
            streak=s.streak,
            made_up=s.made_up,
            points=s.points,
            gifts=list(s.gifts),
            lottery_draws=s.lottery_draws,
        )


@strawberry.type(name="SignInStreak", description="A member's sign-in streak as of today.")
class SignInStreakNode:
    member_id: strawberry.ID
    today: date = strawberry.field(description="The programme's business day now.")
    streak: int = strawberry.field(description="0 once a day was missed.")
    signed_in_today: bool
    last_day: date | None
    next_reward: DayRewardNode | None = strawberry.field(
        description="What the next sign-in pays (tomorrow's when today is done); null while "
        "the programme has no active schedule."
    )
    makeup_cards: int

    @classmethod
    def of(cls, s: StreakState) -> SignInStreakNode:
        return cls(
            member_id=node_id(s.member_id),
            today=s.today,
            streak=s.streak,
            signed_in_today=s.signed_in_today,
            last_day=s.last_day,
            next_reward=None if s.next_reward is None else DayRewardNode.of(s.next_reward),
            makeup_cards=s.makeup_cards,
        )


@strawberry.type(name="SignInCalendar", description="A member's sign-ins in one month.")
class SignInCalendarNode:
    month: str
    days_in_month: int
    sign_ins: list[SignInNode]
    streak: SignInStreakNode


@strawberry.type(name="SignInScheduleDay")
class ScheduleDayNode:
    day: int
    points: int | None = strawberry.field(description="Replaces the base points when set.")
    bonus: int
    gifts: list[str]
    lottery_draws: int


@strawberry.type(name="SignInSchedule", description="What each day of a streak pays.")
class ScheduleNode:
    code: str
    name: str
    base_points: int
    cycle_days: int = strawberry.field(description="Day cycle_days + 1 pays like day 1.")
    days: list[ScheduleDayNode]
    active: bool
    preview: list[DayRewardNode] = strawberry.field(
        description="What streak days 1..cycle_days pay."
    )

    @classmethod
    def of(cls, s: Schedule, active: bool) -> ScheduleNode:
        return cls(
            code=s.code,
            name=s.name,
            base_points=s.base_points,
            cycle_days=s.cycle_days,
            days=[
                ScheduleDayNode(
                    day=d.day,
                    points=d.points,
                    bonus=d.bonus,
                    gifts=list(d.gifts),
                    lottery_draws=d.lottery_draws,
                )
                for d in sorted(s.days.values(), key=lambda d: d.day)
            ],
            active=active,
            preview=[DayRewardNode.of(s.reward_for(n)) for n in range(1, s.cycle_days + 1)],
        )


@strawberry.type(description="A sign-in was recorded and its reward paid.")
class CheckedIn:
    sign_in: SignInNode
    entry: EntryNode | None = strawberry.field(description="The points' ledger entry.")
    member_id: strawberry.Private[int]

    @strawberry.field
    async def balance(self, info: Info) -> BalanceNode:
        info.context.loaders.forget_member(self.member_id)
        return BalanceNode.of(await info.context.loaders.balance.load(self.member_id))


@strawberry.type(description="A missed day was filled with a make-up card.")
class MadeUp:
    sign_in: SignInNode
    streak: SignInStreakNode


@strawberry.type(description="Make-up cards were given (or had been, under this key).")
class MakeUpCardsGranted:
    makeup_cards: int = strawberry.field(description="The member's cards now.")
    replayed: bool


@strawberry.type(description="A sign-in schedule was saved.")
class SignInScheduleSaved:
    schedule: ScheduleNode
