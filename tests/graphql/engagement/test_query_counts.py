"""Daily sign-in's lists read in a fixed number of statements, however many rows."""

from __future__ import annotations

from datetime import timedelta

from app.clock import FrozenClock
from app.engagement.demo import seed_engagement
from app.ledger.models import Actor
from tests.graphql.conftest import Api
from tests.graphql.statements import assert_same_statements, statements_of

CHECK_IN = """mutation($m: ID!) { checkIn(input: {memberId: $m}) { __typename } }"""
CALENDAR = """query($m: ID!) { signInCalendar(memberId: $m) { month
  signIns { day streak points } streak { streak nextReward { points } } } }"""
SCHEDULES = "query { signInSchedules { code active days { day } preview { points } } }"
SAVE = """mutation($c: String!) { saveSignInSchedule(input: {code: $c, name: $c, basePoints: 5})
  { __typename } }"""


async def test_a_calendar_takes_the_same_statements_for_one_sign_in_or_four(
    api: Api, clock: FrozenClock
) -> None:
    await seed_engagement(api.runtime, Actor("staff:seed"))
    few = await api.register("app", "few")
    many = await api.register("app", "many")
    await api.admin(CHECK_IN, {"m": few})
    for _ in range(4):
        await api.admin(CHECK_IN, {"m": many})
        clock.advance(timedelta(days=1))
    clock.advance(timedelta(days=-1))
    await assert_same_statements(
        api, CALENDAR, {"m": few}, {"m": many}, api.staff_headers("analyst")
    )


async def test_the_schedules_take_the_same_statements_for_one_or_four(api: Api) -> None:
    await seed_engagement(api.runtime, Actor("staff:seed"))
    headers = api.staff_headers("analyst")
    before = await statements_of(api, SCHEDULES, {}, headers)
    for n in range(3):
        await api.admin(SAVE, {"c": f"schedule-{n}"})
    after = await statements_of(api, SCHEDULES, {}, headers)
    assert len(after) == len(before), "\n\n".join(after)
