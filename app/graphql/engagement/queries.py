"""A member's streak and calendar, and the programme's sign-in schedules."""

from __future__ import annotations

import calendar

import strawberry

from app.engagement import usecases
from app.graphql.core.context import Info
from app.graphql.core.fields import described_field
from app.graphql.core.inputs import parse_id
from app.graphql.engagement.resolvers import month_of, streak_of
from app.graphql.engagement.types import (
    ScheduleNode,
    SignInCalendarNode,
    SignInNode,
    SignInStreakNode,
)


@strawberry.type
class EngagementQueries:
    @described_field("A member's sign-in streak today and what the next sign-in pays.")
    async def sign_in_streak(self, info: Info, member_id: strawberry.ID) -> SignInStreakNode:
        ctx = info.context
        member = parse_id(str(member_id), "memberId")
        await ctx.readable_member("signInStreak", member)
        return await streak_of(ctx, member)

    @described_field("A member's sign-ins in a month (default: this business month).")
    async def sign_in_calendar(
        self, info: Info, member_id: strawberry.ID, month: str | None = None
    ) -> SignInCalendarNode:
        ctx = info.context
        member = parse_id(str(member_id), "memberId")
        await ctx.readable_member("signInCalendar", member)
        state = await usecases.streak_state(ctx.runtime, member)
        year, number = month_of(month, state.today)
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
