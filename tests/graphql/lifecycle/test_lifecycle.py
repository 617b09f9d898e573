"""Gifting and status changes through the API: members gift as themselves, refusals are typed
payloads that change nothing, gifts both ways at once over HTTP keep every point."""

from __future__ import annotations

import asyncio
from typing import Any

from app.ledger.audit import audit_ledger
from tests.graphql.conftest import Api

GIFT = """mutation($a: ID!, $b: ID!, $n: Int!, $k: String!) {
  giftPoints(input: {fromMemberId: $a, toMemberId: $b, amount: $n, idempotencyKey: $k,
                     message: "for you"}) {
    __typename
    ... on GiftPayload { gift { amount fromMemberId toMemberId message } balance { available } }
    ... on MutationError { code field } } }"""
STATUS = """mutation($m: ID!, $s: MemberStatus!, $r: String!) {
  setMemberStatus(input: {memberId: $m, status: $s, reason: $r}) { __typename } }"""
HISTORY = """query($m: ID!) { member(id: $m) { status statusReason
  statusHistory { fromStatus toStatus reason actor } } }"""


async def gift(api: Api, a: str, b: str, amount: int, key: str, as_: str | None = None) -> Any:
    body = await api.call(
        GIFT, {"a": a, "b": b, "n": amount, "k": key}, api.member_headers(as_ or a)
    )
    return body["data"]["giftPoints"]


async def test_a_member_gifts_as_itself_and_only_as_itself(api: Api) -> None:
    a = await api.register("app", "a")
    b = await api.register("app", "b")
    await api.earn(a, 100, "seed")

    given = await gift(api, a, b, 30, "g1")
    assert given["gift"] == {"amount": 30, "fromMemberId": a, "toMemberId": b, "message": "for you"}
    assert given["balance"] == {"available": 70}

    before = await api.ledger_state(a)
    assert (await gift(api, a, b, 10, "g2", as_=b))["code"] == "FORBIDDEN"
    assert (await gift(api, a, a, 10, "g3"))["field"] == "toMemberId"
    assert (await gift(api, a, b, -1, "g4"))["code"] == "INVALID_INPUT"
    assert (await gift(api, a, "999999", 1, "g5"))["code"] == "NOT_FOUND"
    assert await api.ledger_state(a) == before


async def test_freeze_with_a_reason_then_unfreeze(api: Api) -> None:
    a = await api.register("app", "a")
    b = await api.register("app", "b")
    await api.earn(a, 100, "seed")
    await api.admin(STATUS, {"m": a, "s": "FROZEN", "r": "chargeback under review"})

    assert (await gift(api, a, b, 10, "g1"))["code"] == "MEMBER_NOT_ACTIVE"
    data = await api.admin(HISTORY, {"m": a})
    assert data["member"]["status"] == "FROZEN"
    assert data["member"]["statusReason"] == "chargeback under review"

    await api.admin(STATUS, {"m": a, "s": "ACTIVE", "r": "cleared"})
    assert (await gift(api, a, b, 10, "g2"))["__typename"] == "GiftPayload"
    history = (await api.admin(HISTORY, {"m": a}))["member"]["statusHistory"]
    assert [(h["fromStatus"], h["toStatus"], h["reason"]) for h in history] == [
        ("FROZEN", "ACTIVE", "cleared"),
        ("ACTIVE", "FROZEN", "chargeback under review"),
    ]
    assert all(h["actor"] == "staff:alice" for h in history)


async def test_gifts_both_ways_at_once_over_http_keep_every_point(api: Api) -> None:
    a = await api.register("app", "a")
    b = await api.register("app", "b")
    await api.earn(a, 300, "seed-a")
    await api.earn(b, 300, "seed-b")

    results = await asyncio.gather(
        *(gift(api, a, b, 20, f"ab-{n}") for n in range(25)),
        *(gift(api, b, a, 20, f"ba-{n}") for n in range(25)),
    )

    kinds = {r.get("code", r["__typename"]) for r in results}
    assert kinds <= {"GiftPayload", "INSUFFICIENT_POINTS"}, results
    total_a = (await api.ledger_state(a))["balance"]["total"]
    total_b = (await api.ledger_state(b))["balance"]["total"]
    assert total_a + total_b == 600
    report = await audit_ledger(api.runtime.engine, api.runtime.clock.now())
    assert report.ok, report.render()


EXCHANGE = """mutation($m: ID!, $r: String!, $code: String!) {
  exchangePoints(input: {partnerCode: $code, partnerRef: $r, memberId: $m, direction: IN,
                         amount: 100}) {
    __typename ... on ExchangePayload { exchange { points partnerPoints replayed }
                                        balance { available } }
    ... on MutationError { code field } } }"""
PARTNER = """mutation { saveExchangePartner(input: {code: "airline", name: "Sky Miles",
  rateIn: "0.5", rateOut: "1.5", minPoints: 10, maxPoints: 5000, dailyLimit: 8000}) {
  __typename ... on ExchangePartnerPayload { partner { code rateIn } } } }"""


async def test_a_partner_exchanges_under_its_own_code_only(api: Api) -> None:
    saved = await api.admin(PARTNER)
    assert saved["saveExchangePartner"]["partner"] == {"code": "airline", "rateIn": "0.5"}
    member = await api.register("airline", "flyer")
    airline = await api.partner_headers(["points:exchange"], "airline", "sky")
    shop = await api.partner_headers(["points:exchange"], "airline-shop", "shop")

    def call(code: str, ref: str, headers: dict[str, str]) -> Any:
        return api.call(EXCHANGE, {"m": member, "r": ref, "code": code}, headers)

    first = (await call("airline", "r1", airline))["data"]["exchangePoints"]
    assert first["exchange"] == {"points": 50, "partnerPoints": 100, "replayed": False}
    replay = (await call("airline", "r1", airline))["data"]["exchangePoints"]
    assert replay["exchange"]["replayed"] is True and replay["balance"] == {"available": 50}
    refused = (await call("airline", "r2", shop))["data"]["exchangePoints"]
    assert refused["code"] == "FORBIDDEN"  # another channel: not its member, not its code
    unknown = (
        await call(
            "nobody", "r3", await api.partner_headers(["points:exchange"], "nobody", "nobody")
        )
    )["data"]["exchangePoints"]
    assert unknown["code"] == "FORBIDDEN"  # the member is not linked to that channel either
    staff = await api.call(
        EXCHANGE, {"m": member, "r": "r4", "code": "nobody"}, api.staff_headers("operator")
    )
    assert staff["data"]["exchangePoints"] == {
        "__typename": "MutationError",
        "code": "NOT_FOUND",
        "field": "partnerCode",
    }
    assert (await api.ledger_state(member))["balance"]["total"] == 50


async def test_the_programme_policy_is_readable_by_its_members(api: Api) -> None:
    member = await api.register("app", "reader")
    body = await api.call(
        "{ lifecyclePolicy { expiryPolicy expiryDescription reminderDays giftMaxPoints } }",
        headers=api.member_headers(member),
    )
    assert body["data"]["lifecyclePolicy"] == {
        "expiryPolicy": "rolling:12",
        "expiryDescription": "points are valid through the same date 12 months after earning",
        "reminderDays": [30, 7],
        "giftMaxPoints": 5000,
    }


RULE = """mutation($r: EarningRuleInput!) { createEarningRule(input: {rule: $r}) {
  __typename ... on EarningRulePayload { rule { id expiry } }
  ... on MutationError { code field } } }"""


async def test_an_earning_rule_carries_its_own_expiry_policy(api: Api) -> None:
    rule = {
        "name": "sign-up bonus, never expires",
        "trigger": "EVENT",
        "event": "signup",
        "effect": {"kind": "FIXED", "points": 50},
        "expiry": "never",
    }
    created = (await api.admin(RULE, {"r": rule}))["createEarningRule"]
    assert created["rule"]["expiry"] == "never"
    refused = (await api.admin(RULE, {"r": {**rule, "expiry": "monthly"}}))["createEarningRule"]
    assert refused == {"__typename": "MutationError", "code": "INVALID_INPUT", "field": "expiry"}
    rules = await api.admin("{ earningRules(first: 10) { edges { node { id } } } }")
    assert len(rules["earningRules"]["edges"]) == 1
