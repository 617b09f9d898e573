"""Variants with task rewards and mall prices through the API: a member in B is paid B's task
reward and sees and pays B's price (catalogue, quote and redemption agree), one in A the
programme's; a stop returns everyone to the programme's and keeps what was paid and redeemed;
bad overrides are refused and change nothing (docs/EXPERIMENTS.md)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text

from app.clock import FrozenClock
from app.experiments.policy import pick
from app.experiments.tables import experiment_assignments, experiment_variant_overrides
from app.ledger.audit import audit_ledger
from app.seed import seed_mall
from tests.graphql.conftest import Api, assert_audit_clean
from tests.graphql.experiments.test_experiments import CREATE, UPDATE, state, variant_of

TASK = """mutation { createTask(input: {code: "share", task: {name: "Share",
  kind: REPEATABLE, trigger: MANUAL, maxCompletions: 10, reward: {points: 20}}}) {
  __typename } }"""
COMPLETE = """mutation($m: ID!) { completeTask(input: {memberId: $m, task: "share"}) {
  __typename ... on TaskCompleted { rewards { kind points } }
  ... on MutationError { code message field } } }"""


def overriding(code: str, field: str, override: dict[str, str]) -> dict[str, Any]:
    """An experiment whose control changes nothing and whose B overrides one task or item."""
    b = {"code": "b", "name": "b", "weight": "1", field: [override]}
    return {
        "code": code,
        "name": code,
        "variants": [{"code": "a", "name": "control", "weight": "1"}, b],
    }


def rewards(b_points: str = "50", task: str = "share") -> dict[str, Any]:
    return overriding("share-reward", "taskRewards", {"task": task, "points": b_points})


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


# ---------------------------------------------------------------------------- mall prices

ITEM = """query($m: ID!) { mallItems(filter: {codes: ["coupon-5cny"], forMemberId: $m}) {
  edges { node { id pointsPrice offer { unitPoints } } } } }"""
QUOTE = """query($m: ID!, $i: ID!) { redemptionQuote(input: {memberId: $m, itemId: $i}) {
  price points } }"""
PLACE = """mutation($m: ID!, $i: ID!, $k: String!, $q: Int) { placeRedemption(input: {
  memberId: $m, itemId: $i, idempotencyKey: $k, quotedPoints: $q}) {
  __typename ... on RedemptionPayload { redemption { id points } }
  ... on MutationError { code message field } } }"""
CONFIRM = """mutation($o: ID!) { confirmRedemption(input: {orderId: $o}) { __typename } }"""
RESULTS = """query { experimentResults(code: "coupon-price") { variants {
  code members pointsRedeemed } } }"""
PROGRAMME_PRICE = 50  # the demo's 5 CNY coupon


def prices(b_points: str = "80", item: str = "coupon-5cny") -> dict[str, Any]:
    return overriding("coupon-price", "itemPrices", {"item": item, "points": b_points})


async def redeem(api: Api, member: str, key: str) -> tuple[int, int, int]:
    """The coupon bought by the member as a front end does: the catalogue's offer, the quote,
    the order placed at the quoted points and confirmed. Returns (offer, quote, paid)."""
    me = api.member_headers(member)
    node = (await api.call(ITEM, {"m": member}, me))["data"]["mallItems"]["edges"][0]["node"]
    assert node["pointsPrice"] == PROGRAMME_PRICE  # the list price stays the programme's
    quote = (await api.call(QUOTE, {"m": member, "i": node["id"]}, me))["data"]
    quoted = quote["redemptionQuote"]["points"]
    body = await api.call(PLACE, {"m": member, "i": node["id"], "k": key, "q": quoted}, me)
    placed = body["data"]["placeRedemption"]
    assert placed["__typename"] == "RedemptionPayload", placed
    order = placed["redemption"]
    confirmed = await api.call(CONFIRM, {"o": order["id"]}, me)
    assert confirmed["data"]["confirmRedemption"]["__typename"] == "RedemptionPayload"
    return node["offer"]["unitPoints"], quoted, order["points"]


async def mall_running(api: Api) -> list[str]:
    await seed_mall(api.runtime)
    created = await api.call(CREATE, {"i": prices()}, api.staff_headers("operator"))
    assert created["data"]["createExperiment"]["__typename"] == "ExperimentPayload", created
    await state(api, "startExperiment", "coupon-price")
    members = [await api.register("app", f"s{i}") for i in range(12)]
    for member in members:
        await api.earn(member, 1_000, f"top-up-{member}")
    return members


async def test_a_member_in_b_sees_and_pays_bs_price_and_one_in_a_the_programmes(
    api: Api, clock: FrozenClock
) -> None:
    members = await mall_running(api)
    paid: dict[str, list[int]] = {"a": [], "b": []}
    for member in members:
        first = await redeem(api, member, f"k1-{member}")
        variant = await variant_of(api, member, "coupon-price")  # the redemption assigned it
        assert variant in paid
        price = 80 if variant == "b" else PROGRAMME_PRICE
        assert first == (price, price, price)  # catalogue, quote and redemption agree
        assert await redeem(api, member, f"k2-{member}") == first
        assert (await api.ledger_state(member))["balance"]["total"] == 1_000 - 2 * price
        paid[variant] += [price, price]
    assert paid["a"] and paid["b"], paid
    clock.advance(timedelta(seconds=1))  # results count [assignment, now): now moves on
    results = (await api.call(RESULTS, headers=api.staff_headers("analyst")))["data"]
    assert results["experimentResults"]["variants"] == [
        {"code": code, "members": len(spent) // 2, "pointsRedeemed": sum(spent)}
        for code, spent in paid.items()
    ]
    await assert_audit_clean(api)


async def test_a_quote_and_the_catalogue_assign_no_one_and_a_stale_quote_is_refused(
    api: Api,
) -> None:
    members = await mall_running(api)
    b_member = next(
        m
        for m in members
        if pick("coupon-price", int(m), [("a", Decimal(1)), ("b", Decimal(1))]) == "b"
    )
    me = api.member_headers(b_member)
    node = (await api.call(ITEM, {"m": b_member}, me))["data"]["mallItems"]["edges"][0]["node"]
    quote = (await api.call(QUOTE, {"m": b_member, "i": node["id"]}, me))["data"]
    assert node["offer"]["unitPoints"] == quote["redemptionQuote"]["points"] == 80
    assert await variant_of(api, b_member, "coupon-price") is None  # browsing: no exposure
    await state(api, "stopExperiment", "coupon-price")
    stale = await api.call(PLACE, {"m": b_member, "i": node["id"], "k": "late", "q": 80}, me)
    assert stale["data"]["placeRedemption"]["code"] == "QUOTE_CHANGED"
    assert (await api.ledger_state(b_member))["balance"]["total"] == 1_000


async def test_stopping_returns_everyone_to_the_programmes_price_and_keeps_redemptions(
    api: Api,
) -> None:
    members = await mall_running(api)
    for member in members:
        await redeem(api, member, f"before-{member}")
    before = {m: await api.ledger_state(m) for m in members}
    await state(api, "stopExperiment", "coupon-price")
    assert {m: await api.ledger_state(m) for m in members} == before
    for member in members:
        assert await redeem(api, member, f"after-{member}") == (PROGRAMME_PRICE,) * 3
    await assert_audit_clean(api)


async def test_bad_item_prices_are_refused_and_change_nothing(api: Api) -> None:
    await seed_mall(api.runtime)
    headers = api.staff_headers("operator")
    cases = {
        "unknown item": (prices(item="no-such-item"), "NOT_FOUND", "item"),
        "zero": (prices("0"), "INVALID_INPUT", "points"),
        "negative": (prices("-80"), "INVALID_INPUT", "points"),
        "fraction": (prices("79.5"), "INVALID_INPUT", "points"),
    }
    for name, (definition, code, field) in cases.items():
        refused = (await api.call(CREATE, {"i": definition}, headers))["data"]["createExperiment"]
        assert (refused["code"], refused["field"]) == (
            code,
            f"variants[1].itemPrices[0].{field}",
        ), (name, refused)
    for hostile in ("NaN", "-Infinity"):
        body = await api.call(CREATE, {"i": prices(hostile)}, headers)
        assert body.get("errors") or body["data"]["createExperiment"]["code"] == "INVALID_INPUT"
    assert await _overrides(api) == 0


async def test_the_audit_sees_a_redemption_not_paid_at_the_variants_price(api: Api) -> None:
    members = await mall_running(api)
    b_member = next(
        m
        for m in members
        if pick("coupon-price", int(m), [("a", Decimal(1)), ("b", Decimal(1))]) == "b"
    )
    await redeem(api, b_member, "audited")
    await assert_audit_clean(api)
    async with api.runtime.engine.begin() as conn:  # what no use case does: the list price
        await conn.execute(text("UPDATE mall_orders SET unit_points = 50"))
    report = await audit_ledger(api.runtime.engine, api.runtime.clock.now())
    assert {check.name for check in report.checks if not check.ok} == {
        "a redemption placed while an experiment ran paid the member's variant's price"
    }
