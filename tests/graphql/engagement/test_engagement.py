"""Daily sign-in through the API: check-in, races, refusals that change nothing, the calendar."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.engagement import usecases
from app.ledger.models import Actor
from tests.graphql.conftest import Api, assert_audit_clean

CHECK_IN = """mutation($m: ID!) { checkIn(input: {memberId: $m}) {
  __typename
  ... on CheckedIn { signIn { day streak points gifts lotteryDraws } entry { amount }
                     balance { available } }
  ... on MutationError { code message field } } }"""

CALENDAR = """query($m: ID!, $month: String) { signInCalendar(memberId: $m, month: $month) {
  month daysInMonth signIns { day streak points madeUp }
  streak { streak signedInToday nextReward { points } makeupCards } } }"""


@pytest.fixture
async def schedules(api: Api) -> None:
    await usecases.seed_schedules(api.runtime, Actor("staff:alice"))


async def check_in(api: Api, member: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    body = await api.call(CHECK_IN, {"m": member}, headers or api.member_headers(member))
    result: dict[str, Any] = body["data"]["checkIn"]
    return result


async def test_a_member_checks_in_once_a_day(api: Api, schedules: None) -> None:
    member = await api.register("pos", "a")

    first = await check_in(api, member)
    again = await check_in(api, member)

    assert first["__typename"] == "CheckedIn"
    assert first["signIn"] == {
        "day": "2026-11-23",
        "streak": 1,
        "points": 5,
        "gifts": [],
        "lotteryDraws": 0,
    }
    assert first["entry"] == {"amount": 5} and first["balance"] == {"available": 5}
    assert again["code"] == "ALREADY_EXISTS"
    assert (await api.ledger_state(member))["balance"]["total"] == 5


async def test_one_hundred_concurrent_check_ins_through_the_api_pay_once(
    api: Api, schedules: None
) -> None:
    member = await api.register("pos", "racer")

    results = await asyncio.gather(*(check_in(api, member) for _ in range(100)))

    outcomes = [r.get("code", r["__typename"]) for r in results]
    assert outcomes.count("CheckedIn") == 1
    assert outcomes.count("ALREADY_EXISTS") == 99
    state = await api.ledger_state(member)
    assert state["balance"]["total"] == 5
    assert len(state["history"]["edges"]) == 1
    await assert_audit_clean(api)


async def test_a_member_token_cannot_check_in_for_another_member(api: Api, schedules: None) -> None:
    a = await api.register("pos", "a")
    b = await api.register("pos", "b")
    before = await api.ledger_state(a)

    refused = await check_in(api, a, api.member_headers(b))

    assert refused["code"] == "FORBIDDEN"
    assert await api.ledger_state(a) == before
    body = await api.call(CALENDAR, {"m": a}, api.member_headers(b))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await api.call(CALENDAR, {"m": a}, api.member_headers(a)))["data"]["signInCalendar"][
        "signIns"
    ] == []


async def test_bad_ids_and_months_are_clear_errors(api: Api, schedules: None) -> None:
    member = await api.register("pos", "a")
    refused = await check_in(api, "abc", api.staff_headers("operator"))
    assert (refused["code"], refused["field"]) == ("INVALID_INPUT", "memberId")
    unknown = await check_in(api, "999999", api.staff_headers("operator"))
    assert unknown["code"] == "NOT_FOUND"
    body = await api.call(CALENDAR, {"m": member, "month": "2026-13"}, api.member_headers(member))
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_the_month_calendar_shows_the_sign_ins_and_the_next_reward(
    api: Api, schedules: None
) -> None:
    member = await api.register("pos", "a")
    await check_in(api, member)

    data = (await api.call(CALENDAR, {"m": member}, api.member_headers(member)))["data"]

    calendar = data["signInCalendar"]
    assert calendar["month"] == "2026-11" and calendar["daysInMonth"] == 30
    assert calendar["signIns"] == [{"day": "2026-11-23", "streak": 1, "points": 5, "madeUp": False}]
    assert calendar["streak"] == {
        "streak": 1,
        "signedInToday": True,
        "nextReward": {"points": 5},
        "makeupCards": 0,
    }


async def test_staff_switch_the_schedule_and_bad_schedules_change_nothing(
    api: Api, schedules: None
) -> None:
    save = """mutation($d: [ScheduleDayInput!]!) { saveSignInSchedule(input: {code: "week",
      name: "ten a day, 100 on day 7", basePoints: 10, days: $d, activate: true}) {
      __typename ... on SignInScheduleSaved { schedule { code active preview { points } } }
      ... on MutationError { code field } } }"""
    bad = await api.call(save, {"d": [{"day": 9, "points": 1}]}, api.staff_headers("operator"))
    assert bad["data"]["saveSignInSchedule"] == {
        "__typename": "MutationError",
        "code": "INVALID_INPUT",
        "field": "days",
    }
    listed = await api.admin("{ signInSchedules { code active } }")
    assert listed["signInSchedules"] == [
        {"code": "calendar", "active": False},
        {"code": "daily", "active": True},
    ]

    good = await api.call(save, {"d": [{"day": 7, "points": 100}]}, api.staff_headers("operator"))

    schedule = good["data"]["saveSignInSchedule"]["schedule"]
    assert schedule["active"] is True
    assert [p["points"] for p in schedule["preview"]] == [10, 10, 10, 10, 10, 10, 100]
    member = await api.register("pos", "a")
    assert (await check_in(api, member))["signIn"]["points"] == 10
