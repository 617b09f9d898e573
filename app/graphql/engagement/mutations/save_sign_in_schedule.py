"""saveSignInSchedule: create or replace a sign-in schedule, optionally activating it."""

from __future__ import annotations

from app.engagement import usecases
from app.graphql.core.mutations import Call, mutation
from app.graphql.engagement.inputs import SaveSignInScheduleInput
from app.graphql.engagement.types import ScheduleNode, SignInScheduleSaved


@mutation("Create or replace a sign-in schedule (staff); optionally activate it.")
async def save_sign_in_schedule(call: Call, input: SaveSignInScheduleInput) -> SignInScheduleSaved:
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
        call.runtime, call.actor, input.code, input.name, spec, activate=input.activate
    )
    active = {s.code: a for s, a in await usecases.list_schedules(call.runtime)}
    return SignInScheduleSaved(schedule=ScheduleNode.of(saved, active[saved.code]))
