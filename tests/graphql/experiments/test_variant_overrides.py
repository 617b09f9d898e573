"""Variants with task rewards through the API: a member in B is paid B's reward, one in A the
programme's, a stop returns everyone to the programme's and keeps what was paid, bad overrides
are refused and change nothing (docs/EXPERIMENTS.md)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.experiments.tables import experiment_assignments, experiment_variant_overrides
from tests.graphql.conftest import Api, assert_audit_clean
from tests.graphql.experiments.test_experiments import CREATE, UPDATE, state, variant_of

TASK = """mutation { createTask(input: {code: "share", task: {name: "Share",
  kind: REPEATABLE, trigger: MANUAL, maxCompletions: 10, reward: {points: 20}}}) {
  __typename } }"""
COMPLETE = """mutation($m: ID!) { completeTask(input: {memberId: $m, task: "share"}) {
  __typename ... on TaskCompleted { rewards { kind points } }
  ... on MutationError { code message field } } }"""


def rewards(b_points: str = "50", task: str = "share") -> dict[str, Any]:
    return {
        "code": "share-reward",
        "name": "a bigger share reward?",
        "variants": [
            {"code": "a", "name": "control", "weight": "1"},
            {
                "code": "b",
                "name": "more",
                "weight": "1",
                "taskRewards": [{"task": task, "points": b_points}],
            },
        ],
    }


async def complete(api: Api, member: str) -> int:
    body = await api.call(COMPLETE, {"m": member}, api.member_headers(member))
    done = body["data"]["completeTask"]
    assert done["__typename"] == "TaskCompleted", done
    return sum(r["points"] for r in done["rewards"] if r["kind"] == "points")


async def running(api: Api) -> list[str]:
    assert (await api.admin(TASK))["createTask"]["__typename"] == "TaskSaved"
    created = await api.call(CREATE, {"i": rewards()}, api.staff_headers("operator"))
    assert created["data"]["createExperiment"]["__typename"] == "ExperimentPayload", created
    assert (await state(api, "startExperiment", "share-reward"))["experiment"]["status"] == (
        "running"
    )
    return [await api.register("pos", f"m{i}") for i in range(12)]


async def test_a_member_in_b_earns_bs_task_reward_and_one_in_a_the_programmes(api: Api) -> None:
    members = await running(api)
    seen = {"a": 0, "b": 0}
    for member in members:
        assert await variant_of(api, member, "share-reward") is None  # not exposed yet
        paid = await complete(api, member)
        variant = await variant_of(api, member, "share-reward")  # the reward was its exposure
        assert variant in seen
        seen[variant] += 1
        assert paid == (50 if variant == "b" else 20)
        assert await complete(api, member) == paid  # never moved while it runs
        assert (await api.ledger_state(member))["balance"]["total"] == 2 * paid
    assert seen["a"] > 0 and seen["b"] > 0, seen
    read = await api.call(
        '{ experiment(code: "share-reward") { variants { code taskRewards { code points } } } }',
        headers=api.staff_headers("analyst"),
    )
    assert read["data"]["experiment"]["variants"] == [
        {"code": "a", "taskRewards": []},
        {"code": "b", "taskRewards": [{"code": "share", "points": 50}]},
    ]
    await assert_audit_clean(api)


async def test_stopping_returns_everyone_to_the_programmes_reward(api: Api) -> None:
    members = await running(api)
    paid = {m: await complete(api, m) for m in members}
    assert set(paid.values()) == {20, 50}
    before = {m: await api.ledger_state(m) for m in members}
    await state(api, "stopExperiment", "share-reward")
    assert {m: await api.ledger_state(m) for m in members} == before  # nothing taken back
    for member in members:
        assert await complete(api, member) == 20
    await assert_audit_clean(api)


async def _overrides(api: Api) -> int:
    async with api.runtime.engine.connect() as conn:
        found = await conn.scalar(select(func.count()).select_from(experiment_variant_overrides))
    return int(found or 0)


async def test_bad_overrides_are_refused_and_change_nothing(api: Api) -> None:
    assert (await api.admin(TASK))["createTask"]["__typename"] == "TaskSaved"
    headers = api.staff_headers("operator")
    cases = {
        "unknown task": (rewards(task="no-such-task"), "NOT_FOUND"),
        "hostile code": (rewards(task="'; DROP TABLE tasks; --"), "NOT_FOUND"),
        "negative": (rewards("-5"), "INVALID_INPUT"),
        "fraction": (rewards("2.5"), "INVALID_INPUT"),
        "too many points": (rewards("100000001"), "INVALID_INPUT"),
    }
    for name, (definition, code) in cases.items():
        body = await api.call(CREATE, {"i": definition}, headers)
        refused = body["data"]["createExperiment"]
        assert refused["code"] == code, (name, refused)
        assert refused["field"] == "variants[1].taskRewards[0]." + (
            "task" if code == "NOT_FOUND" else "points"
        ), (name, refused)
    for hostile in ("NaN", "Infinity"):
        body = await api.call(CREATE, {"i": rewards(hostile)}, headers)
        assert body.get("errors") or body["data"]["createExperiment"]["code"] == "INVALID_INPUT"
    twice = rewards()
    twice["variants"][1]["taskRewards"] *= 2
    body = await api.call(CREATE, {"i": twice}, headers)
    assert body["data"]["createExperiment"]["field"] == "variants[1].taskRewards[1].task"
    assert await _overrides(api) == 0
    created = await api.call(CREATE, {"i": rewards()}, headers)
    assert created["data"]["createExperiment"]["__typename"] == "ExperimentPayload"
    await state(api, "startExperiment", "share-reward")
    changed = await api.call(UPDATE, {"i": rewards("80")}, headers)
    assert changed["data"]["updateExperiment"]["code"] == "INVALID_STATE"  # running: refused
    assert await _overrides(api) == 1
    async with api.runtime.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(experiment_assignments)) == 0
