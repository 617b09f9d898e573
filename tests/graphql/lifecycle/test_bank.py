"""The points bank through the API: the reminder's action, the member's move as itself, the
pool for staff, typed refusals that change nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.lifecycle.reminders import send_expiry_reminders
from tests.graphql.conftest import Api

EARN = """mutation($m: ID!, $e: DateTime!) { earnPoints(input: {memberId: $m, amount: 80,
  reason: "t", idempotencyKey: "soon", expiresAt: $e}) { __typename } }"""
ACTIONS = """query($m: ID!) { notifications(memberId: $m) { edges { node { points
  actions { action to validThrough link } } } } }"""
MOVE = """mutation($m: ID!, $d: Date!, $c: String, $k: String!) {
  moveExpiringPoints(input: {memberId: $m, validThrough: $d, to: DONATION, charityCode: $c,
                             idempotencyKey: $k}) {
    __typename
    ... on BankMovePayload { move { points to target } balance { available } }
    ... on MutationError { code field } } }"""


async def move(api: Api, member: str, day: str, key: str, **kw: Any) -> Any:
    variables = {"m": member, "d": day, "c": "red-cross", "k": key} | kw
    body = await api.call(MOVE, variables, api.member_headers(member))
    return body["data"]["moveExpiringPoints"]


async def test_a_member_moves_its_expiring_points_from_the_reminder(api: Api) -> None:
    a = await api.register("app", "a")
    b = await api.register("app", "b")
    await api.admin(
        'mutation { createCharity(input: {code: "red-cross", name: "RC"}) { __typename } }'
    )
    expires = api.runtime.clock.now() + timedelta(days=5)
    await api.admin(EARN, {"m": a, "e": expires.isoformat()})
    await api.earn(a, 20, "never")
    await send_expiry_reminders(api.runtime)
    nodes = (await api.call(ACTIONS, {"m": a}, api.member_headers(a)))["data"]["notifications"]
    (action,) = [x for x in nodes["edges"][0]["node"]["actions"] if x["to"] == "DONATION"]
    day = action["validThrough"]
    assert action["link"] == f"/bank/move?validThrough={day}&to=donation"

    before = await api.ledger_state(a)
    refused = await api.call(
        MOVE, {"m": a, "d": day, "c": "red-cross", "k": "x"}, api.member_headers(b)
    )
    assert refused["data"]["moveExpiringPoints"]["code"] == "FORBIDDEN"
    assert (await move(api, a, day, "k0", c=None))["field"] == "charityCode"
    assert (await move(api, a, day, "k1", c="nope"))["code"] == "NOT_FOUND"
    assert (await move(api, a, "2099-01-01", "k2"))["code"] == "INVALID_INPUT"
    assert await api.ledger_state(a) == before

    moved = await move(api, a, day, "k3")
    assert moved["move"] == {"points": 80, "to": "DONATION", "target": "red-cross"}
    assert moved["balance"] == {"available": 20}
    pool = await api.admin("{ pointsBank { balance expiredIn spent } }")
    assert pool["pointsBank"] == {"balance": 0, "expiredIn": 0, "spent": 0}
    body = await api.call("{ pointsBank { balance } }", None, api.member_headers(a))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
