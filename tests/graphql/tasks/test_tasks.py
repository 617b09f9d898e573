"""Tasks, teams and badges through the API: the task centre, staff definitions, refusals."""

from __future__ import annotations

from typing import Any

import pytest

from app.engagement import usecases as engagement
from app.engagement.demo import seed_engagement
from app.ledger.models import Actor
from app.segments.usecases import recompute_segments
from app.tiers.policy import DEMO_TIERS
from app.tiers.usecases import install_tiers
from tests.graphql.conftest import Api

PAYLOAD = "{ __typename ... on MutationError { code message field } }"
CENTRE = """query($m: ID!) { taskCentre(memberId: $m) {
  task { code kind reward { points badge } } period progress completions completed } }"""
COMPLETE = """mutation($m: ID!, $t: String!) { completeTask(input: {memberId: $m, task: $t}) {
  __typename ... on TaskCompleted { status { completions completed } rewards { kind points } }
  ... on MutationError { code message field } } }"""


@pytest.fixture
async def demo(api: Api) -> None:
    await install_tiers(api.runtime, DEMO_TIERS)
    await seed_engagement(api.runtime, Actor("staff:seed"))


async def mutate(api: Api, query: str, variables: dict[str, Any], headers: dict[str, str]) -> Any:
    body = await api.call(query, variables, headers)
    assert "errors" not in body, body
    return next(iter(body["data"].values()))


async def test_the_task_centre_lists_the_demo_tasks_with_progress(api: Api, demo: None) -> None:
    member = await api.register("pos", "a")
    data = (await api.call(CENTRE, {"m": member}, api.member_headers(member)))["data"]
    codes = [s["task"]["code"] for s in data["taskCentre"]]
    assert codes == [
        "complete-profile",
        "follow-account",
        "share-daily",
        "buy-3-days",
        "monthly-points",
        "team-spend",
        "new-product-explorer",
        "seven-day-streak",
    ]
    buy3 = next(s for s in data["taskCentre"] if s["task"]["code"] == "buy-3-days")
    assert buy3 == {
        "task": {
            "code": "buy-3-days",
            "kind": "CHALLENGE",
            "reward": {"points": 100, "badge": None},
        },
        "period": "2026-11",
        "progress": "0",
        "completions": 0,
        "completed": False,
    }


async def test_staff_create_a_manual_task_members_complete_it_once(api: Api, demo: None) -> None:
    create = f"""mutation {{ createTask(input: {{code: "rate-app", task: {{name: "Rate the app",
      kind: ONE_OFF, trigger: MANUAL, reward: {{points: 20, badge: "profile-complete"}}}}}})
      {PAYLOAD} }}"""
    assert (await mutate(api, create, {}, api.staff_headers("operator")))[
        "__typename"
    ] == "TaskSaved"
    again = await mutate(api, create, {}, api.staff_headers("operator"))
    assert (again["code"], again["field"]) == ("ALREADY_EXISTS", "code")
    member = await api.register("pos", "a")
    headers = api.member_headers(member)

    done = await mutate(api, COMPLETE, {"m": member, "t": "rate-app"}, headers)
    twice = await mutate(api, COMPLETE, {"m": member, "t": "rate-app"}, headers)

    assert done["status"] == {"completions": 1, "completed": True}
    assert sorted((r["kind"], r["points"]) for r in done["rewards"]) == [
        ("badge", 0),
        ("points", 20),
    ]
    assert (twice["code"], twice["field"]) == ("LIMIT_REACHED", "task")
    assert (await api.ledger_state(member))["balance"]["total"] == 20


async def test_bad_task_input_is_refused_and_changes_nothing(api: Api, demo: None) -> None:
    member = await api.register("pos", "a")
    other = await api.register("pos", "b")
    before = await api.ledger_state(member)
    headers = api.member_headers(member)

    unknown = await mutate(api, COMPLETE, {"m": member, "t": "no-such-task"}, headers)
    automatic = await mutate(api, COMPLETE, {"m": member, "t": "buy-3-days"}, headers)
    forged = await mutate(
        api, COMPLETE, {"m": member, "t": "follow-account"}, api.member_headers(other)
    )
    bad_badge = await mutate(
        api,
        f"""mutation {{ createTask(input: {{code: "x", task: {{name: "x", kind: ONE_OFF,
          trigger: MANUAL, reward: {{badge: "no-such-badge"}}}}}}) {PAYLOAD} }}""",
        {},
        api.staff_headers("admin"),
    )
    contradiction = await mutate(
        api,
        f"""mutation {{ createTask(input: {{code: "y", task: {{name: "y", kind: ONE_OFF,
          trigger: MANUAL, period: DAY, reward: {{points: 1}}}}}}) {PAYLOAD} }}""",
        {},
        api.staff_headers("admin"),
    )

    assert (unknown["code"], unknown["field"]) == ("NOT_FOUND", "task")
    assert (automatic["code"], automatic["field"]) == ("INVALID_INPUT", "task")
    assert forged["code"] == "FORBIDDEN"
    assert (bad_badge["code"], bad_badge["field"]) == ("NOT_FOUND", "reward")
    assert (contradiction["code"], contradiction["field"]) == ("INVALID_INPUT", "period")
    assert await api.ledger_state(member) == before
    codes = [t["code"] for t in (await api.admin("{ tasks { code } }"))["tasks"]]
    assert "x" not in codes and "y" not in codes


TEAM = """mutation($m: ID!) { createTeam(input: {task: "team-spend", memberId: $m, name: "Owls"}) {
  __typename ... on TeamPayload { team { code size maxSize memberIds } }
  ... on MutationError { code field } } }"""
JOIN = """mutation($m: ID!, $c: String!) { joinTeam(input: {code: $c, memberId: $m}) {
  __typename ... on TeamPayload { team { size memberIds } }
  ... on MutationError { code field } } }"""


async def test_teams_join_by_code_and_refuse_full_teams_and_unknown_codes(
    api: Api, demo: None
) -> None:
    members = [await api.register("pos", f"m{n}") for n in range(6)]
    created = await mutate(api, TEAM, {"m": members[0]}, api.member_headers(members[0]))
    code = created["team"]["code"]
    assert created["team"]["size"] == 1 and created["team"]["maxSize"] == 5
    for m in members[1:5]:
        joined = await mutate(api, JOIN, {"m": m, "c": code}, api.member_headers(m))
        assert joined["__typename"] == "TeamPayload", joined

    full = await mutate(api, JOIN, {"m": members[5], "c": code}, api.member_headers(members[5]))
    unknown = await mutate(
        api, JOIN, {"m": members[5], "c": "NOSUCH"}, api.member_headers(members[5])
    )
    forged = await mutate(api, JOIN, {"m": members[5], "c": code}, api.member_headers(members[0]))

    assert (full["code"], full["field"]) == ("LIMIT_REACHED", "code")
    assert (unknown["code"], unknown["field"]) == ("NOT_FOUND", "code")
    assert forged["code"] == "FORBIDDEN"
    team = (await api.admin(f'{{ team(code: "{code}") {{ size memberIds }} }}'))["team"]
    assert team == {"size": 5, "memberIds": members[:5]}


async def test_a_member_is_not_shown_another_segments_task(api: Api) -> None:
    await engagement.create_task(
        api.runtime,
        Actor("staff:ops"),
        "come-back",
        {
            "name": "Come back",
            "kind": "one_off",
            "trigger": "manual",
            "segments": ["hibernating"],
            "reward": {"points": 10},
        },
    )
    member = await api.register("pos", "new-one")
    await recompute_segments(api.runtime)  # the member is new, not hibernating
    listed = "{ tasks { code } }"
    own = (await api.call(listed, headers=api.member_headers(member)))["data"]["tasks"]
    assert own == []
    staff = (await api.call(listed, headers=api.staff_headers("analyst")))["data"]["tasks"]
    assert staff == [{"code": "come-back"}]
    centre = (await api.call(CENTRE, {"m": member}, api.member_headers(member)))["data"]
    assert centre["taskCentre"] == []
