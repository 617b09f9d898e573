"""Tasks, the task centre and badges read in a fixed number of statements, however many."""

from __future__ import annotations

from app.engagement.demo import seed_engagement
from app.ledger.models import Actor
from tests.graphql.conftest import Api
from tests.graphql.statements import statements_of

LISTS = """query($m: ID!) { tasks { code reward { points } }
  taskCentre(memberId: $m) { period progress task { code } }
  badges { code } memberBadges(memberId: $m) { badge { code } } }"""
TASK = """mutation($c: String!) { createTask(input: {code: $c, task: {name: $c, kind: ONE_OFF,
  trigger: MANUAL, reward: {points: 1}}}) { __typename } }"""
BADGE = """mutation($c: String!) { saveBadge(input: {code: $c, name: $c}) { __typename } }"""


async def test_tasks_and_badges_take_the_same_statements_as_more_are_defined(api: Api) -> None:
    await seed_engagement(api.runtime, Actor("staff:seed"))
    member = await api.register("app", "tasks")
    headers = api.staff_headers("analyst")
    before = await statements_of(api, LISTS, {"m": member}, headers)
    for n in range(3):
        assert (await api.admin(TASK, {"c": f"task-{n}"}))["createTask"][
            "__typename"
        ] == "TaskSaved"
        await api.admin(BADGE, {"c": f"badge-{n}"})
    after = await statements_of(api, LISTS, {"m": member}, headers)
    assert len(after) == len(before), "\n\n".join(after)
