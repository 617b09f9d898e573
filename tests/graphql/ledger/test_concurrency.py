"""Concurrent writes through the GraphQL API, on real connections, then the ledger audit."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.graphql.conftest import Api, assert_audit_clean

SPEND = """mutation($m: ID!, $k: String!) {
  spendPoints(input: {memberId: $m, amount: 10, reason: "race", idempotencyKey: $k}) {
    __typename
    ... on PointsPosted { entry { id } }
    ... on MutationError { code } } }"""


async def test_fifty_spends_of_ten_against_one_hundred(api: Api) -> None:
    member = await api.register("pos", "racer")
    assert (await api.earn(member, 100, "top-up"))["__typename"] == "PointsPosted"
    headers = api.staff_headers("operator")

    async def spend(n: int) -> dict[str, Any]:
        body = await api.call(SPEND, {"m": member, "k": f"spend-{n}"}, headers)
        payload: dict[str, Any] = body["data"]["spendPoints"]
        return payload

    results = await asyncio.gather(*(spend(n) for n in range(50)))

    outcomes = [r.get("code", r["__typename"]) for r in results]
    assert outcomes.count("PointsPosted") == 10
    assert outcomes.count("INSUFFICIENT_POINTS") == 40
    state = await api.ledger_state(member)
    assert state["balance"] == {"available": 0, "pending": 0, "held": 0, "debt": 0, "total": 0}
    assert len(state["history"]["edges"]) == 11  # the top-up and ten spends
    await assert_audit_clean(api)


async def test_one_request_replayed_twenty_times_at_once_credits_once(api: Api) -> None:
    member = await api.register("pos", "replayer")

    results = await asyncio.gather(*(api.earn(member, 70, "same-key") for _ in range(20)))

    assert all(r["__typename"] == "PointsPosted" for r in results), results
    assert all(r == results[0] for r in results)
    state = await api.ledger_state(member)
    assert state["balance"]["total"] == 70
    assert len(state["history"]["edges"]) == 1
    await assert_audit_clean(api)


async def test_a_replay_with_a_different_request_is_refused(api: Api) -> None:
    member = await api.register("pos", "reuser")
    await api.earn(member, 70, "key-1")

    replay = await api.earn(member, 71, "key-1")

    assert replay["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert (await api.ledger_state(member))["balance"]["total"] == 70
