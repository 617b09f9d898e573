"""Engagement: daily sign-in (check-in, streaks, make-up cards, the month calendar, schedules).

Resolvers check permissions, translate GraphQL values into plain values and call
:mod:`app.engagement.usecases`; streak arithmetic and schedules live in
:mod:`app.engagement.streaks`.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import AsyncGenerator
from datetime import date
from typing import Annotated

import strawberry

from app.engagement import usecases
from app.engagement.checkins import SignIn, StreakState
from app.engagement.streaks import DayReward, Schedule
from app.errors import invalid
from app.events.outbox import member_topic
from app.graphql.context import Context, Info
from app.graphql.errors import MutationError, refusal_as_payload
from app.graphql.fields import described_field, described_mutation, described_subscription
from app.graphql.ledger import BalanceNode, EntryNode
from app.graphql.pagination import parse_id
from app.graphql.subscriptions import state_on_change

SIGN_IN_STREAK = "signInStreak"
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _id(value: int) -> strawberry.ID:
    return strawberry.ID(str(value))


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
            member_id=_id(s.member_id),
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


# ------------------------------------------------------------------------------------ inputs


@strawberry.input
class CheckInInput:
    member_id: strawberry.ID


@strawberry.input
class MakeUpSignInInput:
    member_id: strawberry.ID
    day: date = strawberry.field(description="A missed business day of the current month.")


@strawberry.input
class GrantMakeUpCardsInput:
    member_id: strawberry.ID
    count: int
    reason: str
    idempotency_key: str


@strawberry.input
class ScheduleDayInput:
    day: int
    points: int | None = None
    bonus: int = 0
    gifts: list[str] = strawberry.field(default_factory=list)
    lottery_draws: int = 0


@strawberry.input
class SaveSignInScheduleInput:
    code: str
    name: str
    base_points: int
    cycle_days: int = 7
    days: list[ScheduleDayInput] = strawberry.field(default_factory=list)
    activate: bool = False


# ----------------------------------------------------------------------------------- payloads


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


CheckInResult = Annotated[CheckedIn | MutationError, strawberry.union("CheckInResult")]
MakeUpSignInResult = Annotated[MadeUp | MutationError, strawberry.union("MakeUpSignInResult")]
GrantMakeUpCardsResult = Annotated[
    MakeUpCardsGranted | MutationError, strawberry.union("GrantMakeUpCardsResult")
]
SaveSignInScheduleResult = Annotated[
    SignInScheduleSaved | MutationError, strawberry.union("SaveSignInScheduleResult")
]


def _month(raw: str | None, today: date) -> tuple[int, int]:
    if raw is None:
        return today.year, today.month
    found = _MONTH.fullmatch(raw)
    if found is None or not 1 <= int(found.group(2)) <= 12:
        raise invalid("month must look like 2026-11", "month")
    return int(found.group(1)), int(found.group(2))


async def _state(ctx: Context, member_id: int) -> SignInStreakNode:
    return SignInStreakNode.of(await usecases.streak_state(ctx.runtime, member_id))


# ------------------------------------------------------------------------------------ queries


@strawberry.type
class EngagementQueries:
    @described_field("A member's sign-in streak today and what the next sign-in pays.")
    async def sign_in_streak(self, info: Info, member_id: strawberry.ID) -> SignInStreakNode:
        ctx = info.context
        member = parse_id(str(member_id), "memberId")
        await ctx.readable_member("signInStreak", member)
        return await _state(ctx, member)

    @described_field("A member's sign-ins in a month (default: this business month).")
    async def sign_in_calendar(
        self, info: Info, member_id: strawberry.ID, month: str | None = None
    ) -> SignInCalendarNode:
        ctx = info.context
        member = parse_id(str(member_id), "memberId")
        await ctx.readable_member("signInCalendar", member)
        state = await usecases.streak_state(ctx.runtime, member)
        year, number = _month(month, state.today)
        rows = await usecases.month_sign_ins(ctx.runtime, member, year, number)
        return SignInCalendarNode(
            month=f"{year:04d}-{number:02d}",
            days_in_month=calendar.monthrange(year, number)[1],
            sign_ins=[SignInNode.of(s) for s in rows],
            streak=SignInStreakNode.of(state),
        )

    @described_field("The programme's sign-in reward schedules (one is active).")
    async def sign_in_schedules(self, info: Info) -> list[ScheduleNode]:
        info.context.require("signInSchedules")
        return [
            ScheduleNode.of(s, a) for s, a in await usecases.list_schedules(info.context.runtime)
        ]


# ---------------------------------------------------------------------------------- mutations


@strawberry.type
class EngagementMutations:
    @described_mutation("Sign in for today (the programme's business day): once a day.")
    async def check_in(self, info: Info, input: CheckInInput) -> CheckInResult:
        ctx = info.context

        async def run() -> CheckedIn:
            member = parse_id(str(input.member_id), "memberId")
            await ctx.require_on_member("checkIn", member)
            result = await usecases.check_in(ctx.runtime, ctx.principal.to_actor(), member)
            return CheckedIn(
                sign_in=SignInNode.of(result.sign_in),
                entry=None if result.entry is None else EntryNode.of(result.entry),
                member_id=member,
            )

        return await refusal_as_payload(run)

    @described_mutation("Fill a missed day of this month with a make-up card (pays nothing).")
    async def make_up_sign_in(self, info: Info, input: MakeUpSignInInput) -> MakeUpSignInResult:
        ctx = info.context

        async def run() -> MadeUp:
            member = parse_id(str(input.member_id), "memberId")
            await ctx.require_on_member("makeUpSignIn", member)
            made = await usecases.make_up_sign_in(
                ctx.runtime, ctx.principal.to_actor(), member, input.day
            )
            return MadeUp(sign_in=SignInNode.of(made), streak=await _state(ctx, member))

        return await refusal_as_payload(run)

    @described_mutation("Give a member make-up cards (staff); idempotent on the key.")
    async def grant_make_up_cards(
        self, info: Info, input: GrantMakeUpCardsInput
    ) -> GrantMakeUpCardsResult:
        ctx = info.context

        async def run() -> MakeUpCardsGranted:
            ctx.require("grantMakeUpCards")
            member = parse_id(str(input.member_id), "memberId")
            await ctx.require_on_member("grantMakeUpCards", member)
            granted = await usecases.grant_makeup_cards(
                ctx.runtime,
                ctx.principal.to_actor(),
                member,
                input.count,
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            )
            state = await usecases.streak_state(ctx.runtime, member)
            return MakeUpCardsGranted(makeup_cards=state.makeup_cards, replayed=granted is None)

        return await refusal_as_payload(run)

    @described_mutation("Create or replace a sign-in schedule (staff); optionally activate it.")
    async def save_sign_in_schedule(
        self, info: Info, input: SaveSignInScheduleInput
    ) -> SaveSignInScheduleResult:
        ctx = info.context

        async def run() -> SignInScheduleSaved:
            ctx.require("saveSignInSchedule")
            spec = {
                "base_points": input.base_points,
                "cycle_days": input.cycle_days,
                "days": [
                    {
                        "day": d.day,
                        "points": d.points,
                        "bonus": d.bonus,
                        "gifts": d.gifts,
                        "lottery_draws": d.lottery_draws,
                    }
                    for d in input.days
                ],
            }
            saved = await usecases.save_schedule(
                ctx.runtime,
                ctx.principal.to_actor(),
                input.code,
                input.name,
                spec,
                activate=input.activate,
            )
            active = {s.code: a for s, a in await usecases.list_schedules(ctx.runtime)}
            return SignInScheduleSaved(schedule=ScheduleNode.of(saved, active[saved.code]))

        return await refusal_as_payload(run)


# ------------------------------------------------------------------------------ subscriptions


@strawberry.type
class EngagementSubscriptions:
    @described_subscription("A member's sign-in streak now, then after every sign-in.")
    async def sign_in_streak(
        self, info: Info, member_id: strawberry.ID
    ) -> AsyncGenerator[SignInStreakNode, None]:
        ctx = info.context
        member = parse_id(str(member_id), "memberId")
        ctx.renew_loaders()
        await ctx.readable_member(SIGN_IN_STREAK, member)

        async def read() -> SignInStreakNode:
            return await _state(ctx, member)

        async for current in state_on_change(ctx, member_topic(member), read):
            yield current
