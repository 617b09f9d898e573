"""Experiments through the API: a member in variant B earns by B's rules only, a stop keeps
every point earned, a rollout makes the winner the programme's, bad input changes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from app.earning.tables import earning_rules
from app.experiments.tables import experiment_assignments, experiment_variants, experiments
from tests.graphql.conftest import Api, assert_audit_clean
from tests.graphql.statements import statements_of

RULE = """mutation($r: EarningRuleInput!) { createEarningRule(input: {rule: $r}) {
  __typename ... on EarningRulePayload { rule { id } } ... on MutationError { code message } } }"""
PURCHASE = """mutation($m: ID!, $o: String!, $a: Decimal!) {
  recordPurchase(input: {memberId: $m, channel: "pos", orderId: $o,
                         lines: [{sku: "s", category: "grocery", quantity: 1, amount: $a}]}) {
    __typename
    ... on PurchaseRecorded { purchase { points breakdown { rules { name points } } } }
    ... on MutationError { code message field } } }"""
EXPERIMENT_FIELDS = """code status winner replaces channels
  variants { code weight ruleIds members } endedBy"""
CREATE = f"""mutation($i: ExperimentInput!) {{ createExperiment(input: $i) {{
  __typename ... on ExperimentPayload {{ experiment {{ {EXPERIMENT_FIELDS} }} }}
  ... on MutationError {{ code message field }} }} }}"""
UPDATE = CREATE.replace("createExperiment", "updateExperiment")
STATE = """mutation($c: String!) {{ {op}(input: {{code: $c}}) {{
  __typename ... on ExperimentPayload {{ experiment {{ code status endedBy }} }}
  ... on MutationError {{ code message field }} }} }}"""
ROLL_OUT = """mutation($c: String!, $v: String!) {
  rollOutExperiment(input: {code: $c, variant: $v}) {
  __typename ... on ExperimentPayload { experiment { code status winner } }
  ... on MutationError { code message field } } }"""


def per_unit(name: str, rate: str) -> dict[str, Any]:
    return {"name": name, "trigger": "PURCHASE", "effect": {"kind": "PER_UNIT", "rate": rate}}


def definition(code: str, base: str, **extra: Any) -> dict[str, Any]:
    return {
        "code": code,
        "name": "double points",
        "replaces": [base],
        "variants": [
            {"code": "a", "name": "control", "weight": "1", "rules": [per_unit("a-base", "1")]},
            {"code": "b", "name": "double", "weight": "1", "rules": [per_unit("b-double", "2")]},
        ],
        **extra,
    }


async def programme(api: Api) -> str:
    """The programme: 1 point per CNY (the rule the experiment replaces) and a +5 bonus."""
    base = await api.admin(RULE, {"r": per_unit("base", "1")})
    bonus = {"name": "bonus", "trigger": "PURCHASE", "effect": {"kind": "FIXED", "points": 5}}
    await api.admin(RULE, {"r": bonus})
    rule_id: str = base["createEarningRule"]["rule"]["id"]
    return rule_id


async def buy(api: Api, member: str, order: str, amount: str = "100") -> dict[str, Any]:
    body = await api.call(PURCHASE, {"m": member, "o": order, "a": amount}, api.staff_headers())
    recorded: dict[str, Any] = body["data"]["recordPurchase"]
    assert recorded["__typename"] == "PurchaseRecorded", recorded
    return recorded["purchase"]


def names(purchase: dict[str, Any]) -> set[str]:
    return {r["name"] for r in purchase["breakdown"]["rules"]}


async def variant_of(api: Api, member: str, code: str = "double") -> str | None:
    async with api.runtime.engine.connect() as conn:
        return await conn.scalar(
            select(experiment_variants.c.code)
            .join(
                experiment_assignments,
                experiment_assignments.c.variant_id == experiment_variants.c.id,
            )
            .join(experiments, experiments.c.id == experiment_assignments.c.experiment_id)
            .where(experiments.c.code == code, experiment_assignments.c.member_id == int(member))
        )


async def state(api: Api, op: str, code: str, role: str = "operator") -> dict[str, Any]:
    body = await api.call(STATE.format(op=op), {"c": code}, api.staff_headers(role))
    result: dict[str, Any] = body["data"][op]
    return result


async def running(api: Api, **extra: Any) -> tuple[str, list[str]]:
    base = await programme(api)
    created = await api.call(
        CREATE, {"i": definition("double", base, **extra)}, api.staff_headers("operator")
    )
    assert created["data"]["createExperiment"]["__typename"] == "ExperimentPayload", created
    started = await state(api, "startExperiment", "double")
    assert started["experiment"]["status"] == "running"
    members = [await api.register("pos", f"m{i}") for i in range(16)]
    return base, members


async def test_a_member_in_b_earns_by_bs_rules_only(api: Api) -> None:
    _, members = await running(api)
    seen = {"a": 0, "b": 0}
    for member in members:
        purchase = await buy(api, member, f"o-{member}")
        variant = await variant_of(api, member)
        assert variant in seen
        seen[variant] += 1
        if variant == "b":
            assert purchase["points"] == 205, purchase
            assert names(purchase) == {"b-double", "bonus"}
        else:
            assert purchase["points"] == 105, purchase
            assert names(purchase) == {"a-base", "bonus"}
        again = await buy(api, member, f"o2-{member}")  # never moved while it runs
        assert again["points"] == purchase["points"]
        assert await variant_of(api, member) == variant
    assert seen["a"] > 0 and seen["b"] > 0, seen
    read = await api.call(
        f'{{ experiment(code: "double") {{ {EXPERIMENT_FIELDS} }} }}',
        headers=api.staff_headers("analyst"),
    )
    assert [v["members"] for v in read["data"]["experiment"]["variants"]] == [
        seen["a"],
        seen["b"],
    ]
    await assert_audit_clean(api)


async def test_members_outside_the_channel_earn_by_the_programme(api: Api) -> None:
    await running(api, channels=["app"])
    outsider = await api.register("pos", "outsider")
    purchase = await buy(api, outsider, "o-out")
    assert purchase["points"] == 105
    assert names(purchase) == {"base", "bonus"}
    assert await variant_of(api, outsider) is None
    insider = await api.register("app", "insider")
    await buy(api, insider, "o-in")
    assert await variant_of(api, insider) in {"a", "b"}


async def test_stopping_keeps_every_point_earned(api: Api) -> None:
    _, members = await running(api)
    for member in members:
        await buy(api, member, f"o-{member}")
    before = {m: await api.ledger_state(m) for m in members}
    stopped = await state(api, "stopExperiment", "double")
    assert stopped["experiment"] == {
        "code": "double",
        "status": "stopped",
        "endedBy": "staff:alice",
    }
    assert {m: await api.ledger_state(m) for m in members} == before
    await assert_audit_clean(api)
    in_b = [m for m in members if await variant_of(api, m) == "b"]
    b_member = in_b[0]
    after = await buy(api, b_member, "after-stop")  # the programme's rules again
    assert after["points"] == 105 and names(after) == {"base", "bonus"}
    assert (await state(api, "stopExperiment", "double"))["experiment"]["status"] == "stopped"
    again = await state(api, "startExperiment", "double")
    assert again["code"] == "INVALID_STATE"


async def test_rolling_out_makes_the_winner_the_programme(api: Api) -> None:
    await running(api)
    denied = await api.call(ROLL_OUT, {"c": "double", "v": "b"}, api.staff_headers("analyst"))
    assert denied["data"]["rollOutExperiment"]["code"] == "FORBIDDEN"
    unknown = await api.call(ROLL_OUT, {"c": "double", "v": "z"}, api.staff_headers())
    assert unknown["data"]["rollOutExperiment"]["code"] == "NOT_FOUND"
    body = await api.call(ROLL_OUT, {"c": "double", "v": "b"}, api.staff_headers())
    assert body["data"]["rollOutExperiment"]["experiment"] == {
        "code": "double",
        "status": "rolled_out",
        "winner": "b",
    }
    newcomer = await api.register("web", "new")  # never assigned: the programme is B now
    purchase = await buy(api, newcomer, "o-new")
    assert purchase["points"] == 205 and names(purchase) == {"b-double", "bonus"}
    async with api.runtime.engine.connect() as conn:
        enabled = dict(
            (await conn.execute(select(earning_rules.c.name, earning_rules.c.enabled))).all()
        )
    assert enabled == {"base": False, "bonus": True, "a-base": False, "b-double": True}
    other = await api.call(ROLL_OUT, {"c": "double", "v": "a"}, api.staff_headers())
    assert other["data"]["rollOutExperiment"]["code"] == "INVALID_STATE"
    await assert_audit_clean(api)


async def _counts(api: Api) -> tuple[int, int]:
    async with api.runtime.engine.connect() as conn:
        found = await conn.scalar(select(func.count()).select_from(experiments))
        rules = await conn.scalar(select(func.count()).select_from(earning_rules))
    return int(found or 0), int(rules or 0)


async def test_bad_input_is_refused_with_a_typed_error_and_changes_nothing(api: Api) -> None:
    base = await programme(api)
    good = definition("double", base)
    ok = await api.call(CREATE, {"i": good}, api.staff_headers())
    assert ok["data"]["createExperiment"]["__typename"] == "ExperimentPayload"
    before = await _counts(api)

    def with_weight(weight: str) -> dict[str, Any]:
        bad = definition("other", base)
        bad["variants"][1]["weight"] = weight
        return bad

    def with_rule(rule: dict[str, Any]) -> dict[str, Any]:
        bad = definition("other", base)
        bad["variants"][1]["rules"] = [rule]
        return bad

    cases: list[tuple[dict[str, Any], str, str | None]] = [
        (with_weight("0"), "INVALID_INPUT", "variants[1].weight"),
        (with_weight("-2"), "INVALID_INPUT", "variants[1].weight"),
        (with_weight("NaN"), "GRAPHQL_VALIDATION_FAILED", None),  # the Decimal boundary
        (with_weight("Infinity"), "GRAPHQL_VALIDATION_FAILED", None),
        (with_weight("0.00001"), "INVALID_INPUT", "variants[1].weight"),
        (definition("double", base), "ALREADY_EXISTS", "code"),
        (
            {**definition("other", base), "code": "Robert'); DROP TABLE x;--"},
            "INVALID_INPUT",
            "code",
        ),
        ({**definition("other", base), "name": ""}, "INVALID_INPUT", "name"),
        ({**definition("other", base), "replaces": ["999999"]}, "NOT_FOUND", "replaces"),
        ({**definition("other", base), "segments": []}, "INVALID_INPUT", "segments"),
        ({**definition("other", base), "channels": ["x" * 65]}, "INVALID_INPUT", "channels"),
        (with_rule(per_unit("negative", "-1")), "INVALID_INPUT", None),
    ]
    dup = definition("other", base)
    dup["variants"][1]["code"] = "a"
    cases.append((dup, "INVALID_INPUT", "variants[1].code"))
    one = definition("other", base)
    one["variants"] = one["variants"][:1]
    cases.append((one, "INVALID_INPUT", "variants"))
    bare = definition("other", base)
    for v in bare["variants"]:
        v["rules"] = []
    cases.append((bare, "INVALID_INPUT", "variants"))
    for bad, code, field in cases:
        body = await api.call(CREATE, {"i": bad}, api.staff_headers())
        if body.get("errors"):  # refused at the boundary: non-finite numbers, unstorable text
            assert field is None, body
            assert body["errors"][0]["extensions"]["code"] == code, body
            continue
        refused = body["data"]["createExperiment"]
        assert refused["code"] == code, (bad, refused)
        if field is not None:
            assert refused["field"] == field, (bad, refused)
        else:  # the rule's own field, under the variant's
            assert refused["field"].startswith("variants[1].rules[0]"), refused
    assert await _counts(api) == before

    forbidden = await api.call(CREATE, {"i": definition("x", base)}, api.staff_headers("analyst"))
    assert forbidden["data"]["createExperiment"]["code"] == "FORBIDDEN"
    member = await api.register("pos", "m")
    own = await api.call(CREATE, {"i": definition("x", base)}, api.member_headers(member))
    assert own["data"]["createExperiment"]["code"] == "FORBIDDEN"
    unknown = await state(api, "startExperiment", "nope")
    assert unknown["code"] == "NOT_FOUND"

    # A draft may change; once started, its variants may not.
    changed = definition("double", base)
    changed["variants"][1]["weight"] = "3"
    updated = await api.call(UPDATE, {"i": changed}, api.staff_headers())
    assert [v["weight"] for v in updated["data"]["updateExperiment"]["experiment"]["variants"]] == [
        "1",
        "3",
    ]
    await state(api, "startExperiment", "double")
    changed["variants"][1]["weight"] = "5"
    refused = await api.call(UPDATE, {"i": changed}, api.staff_headers())
    assert refused["data"]["updateExperiment"]["code"] == "INVALID_STATE"
    read = await api.call(
        '{ experiment(code: "double") { variants { weight } } }', headers=api.staff_headers()
    )
    assert [v["weight"] for v in read["data"]["experiment"]["variants"]] == ["1", "3"]


SWITCH = """mutation($id: ID!, $on: Boolean!) {
  setEarningRuleEnabled(input: {id: $id, enabled: $on}) {
    __typename ... on MutationError { code field } } }"""
EDIT = """mutation($id: ID!, $r: EarningRuleInput!) {
  updateEarningRule(input: {id: $id, rule: $r}) {
    __typename ... on MutationError { code field } } }"""


async def test_a_running_experiments_rules_cannot_be_changed_through_the_rule_book(
    api: Api,
) -> None:
    base, _ = await running(api)
    read = await api.admin('{ experiment(code: "double") { variants { code ruleIds } } }')
    a_rule, b_rule = (v["ruleIds"][0] for v in read["experiment"]["variants"])
    for rule in (a_rule, b_rule):
        off = await api.call(SWITCH, {"id": rule, "on": False}, api.staff_headers())
        assert off["data"]["setEarningRuleEnabled"] == {
            "__typename": "MutationError",
            "code": "INVALID_STATE",
            "field": "id",
        }
        edit = await api.call(EDIT, {"id": rule, "r": per_unit("x", "9")}, api.staff_headers())
        assert edit["data"]["updateEarningRule"]["code"] == "INVALID_STATE"
    programme = await api.call(EDIT, {"id": base, "r": per_unit("base", "1")}, api.staff_headers())
    assert programme["data"]["updateEarningRule"]["__typename"] == "EarningRulePayload"
    await state(api, "stopExperiment", "double")
    on = await api.call(SWITCH, {"id": b_rule, "on": True}, api.staff_headers())
    assert on["data"]["setEarningRuleEnabled"]["code"] == "INVALID_STATE"
    await api.call(ROLL_OUT, {"c": "double", "v": "b"}, api.staff_headers())
    winner = await api.call(EDIT, {"id": b_rule, "r": per_unit("b", "3")}, api.staff_headers())
    assert winner["data"]["updateEarningRule"]["__typename"] == "EarningRulePayload"
    loser = await api.call(SWITCH, {"id": a_rule, "on": True}, api.staff_headers())
    assert loser["data"]["setEarningRuleEnabled"]["code"] == "INVALID_STATE"


async def test_racing_purchases_assign_each_member_once(api: Api) -> None:
    """Two purchases of each of twelve new members at once, on real connections: one
    assignment each, and both purchases paid by that variant's rules."""
    _, members = await running(api)
    people = members[:12]
    results = await asyncio.gather(
        *(buy(api, m, f"race-{m}-{n}") for m in people for n in range(2))
    )
    async with api.runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(experiment_assignments.c.member_id, func.count()).group_by(
                    experiment_assignments.c.member_id
                )
            )
        ).all()
    assert sorted(int(m) for m, _ in rows) == sorted(int(m) for m in people)
    assert all(count == 1 for _, count in rows)
    for i, member in enumerate(people):
        expected = 205 if await variant_of(api, member) == "b" else 105
        assert [results[2 * i]["points"], results[2 * i + 1]["points"]] == [expected, expected]
    await assert_audit_clean(api)


async def test_the_experiments_list_reads_in_a_fixed_number_of_statements(api: Api) -> None:
    base = await programme(api)
    query = f"{{ experiments {{ {EXPERIMENT_FIELDS} }} }}"
    await api.call(CREATE, {"i": definition("one", base)}, api.staff_headers())
    few = await statements_of(api, query, {}, api.staff_headers("analyst"))
    for code in ("two", "three", "four"):
        await api.call(CREATE, {"i": definition(code, base)}, api.staff_headers())
    await state(api, "startExperiment", "two")
    many = await statements_of(api, query, {}, api.staff_headers("analyst"))
    assert len(many) == len(few), "\n\n".join(many)
    listed = await api.admin("{ experiments { code status } }")
    assert listed["experiments"] == [
        {"code": "four", "status": "draft"},
        {"code": "three", "status": "draft"},
        {"code": "two", "status": "running"},
        {"code": "one", "status": "draft"},
    ]
