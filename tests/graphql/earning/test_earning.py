"""Earning through the API: rules, purchases, refunds, events, preview, the member's tier."""

from __future__ import annotations

from typing import Any

from app.seed import seed_earning
from tests.graphql.conftest import Api

PAYLOAD = "{ __typename ... on MutationError { code message field } }"

PURCHASE = """mutation($m: ID!, $o: String!, $lines: [PurchaseLine!]!) {
  recordPurchase(input: {memberId: $m, channel: "pos", orderId: $o, lines: $lines}) {
    __typename
    ... on PurchaseRecorded { replayed purchase { points breakdown { points
          rules { name kind points cuts { cap points } } } }
        entry { amount } balance { available pending } tierChange { toTier reason } }
    ... on MutationError { code message field } } }"""


def basket(*amounts: str, category: str = "grocery") -> list[dict[str, Any]]:
    return [
        {"sku": f"s{i}", "category": category, "quantity": 1, "amount": a}
        for i, a in enumerate(amounts)
    ]


async def test_purchase_preview_refund_and_tier_through_the_api(api: Api) -> None:
    await seed_earning(api.runtime)
    m = await api.register("pos", "buyer")
    pos = await api.partner_headers(["points:earn", "points:reverse", "members:read"], "pos")
    preview = await api.call(
        """query($m: ID!, $lines: [PurchaseLine!]!) { previewPoints(input: {memberId: $m,
             channel: "pos", lines: $lines}) { points rules { name points } } }""",
        {"m": m, "lines": basket("100")},
        pos,
    )
    assert preview["data"]["previewPoints"]["points"] == 180
    body = await api.call(PURCHASE, {"m": m, "o": "o1", "lines": basket("100")}, pos)
    recorded = body["data"]["recordPurchase"]
    assert recorded["__typename"] == "PurchaseRecorded", recorded
    assert recorded["purchase"]["points"] == 180
    assert recorded["balance"] == {"available": 0, "pending": 180}
    assert [r["kind"] for r in recorded["purchase"]["breakdown"]["rules"]] == [
        "per_unit",
        "percent_bonus",
        "fixed",
    ]
    replay = await api.call(PURCHASE, {"m": m, "o": "o1", "lines": basket("100")}, pos)
    assert replay["data"]["recordPurchase"]["replayed"] is True
    reused = await api.call(PURCHASE, {"m": m, "o": "o1", "lines": basket("99")}, pos)
    assert reused["data"]["recordPurchase"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    refund = await api.call(
        """mutation { recordRefund(input: {channel: "pos", orderId: "o1", refundId: "r1",
             amount: "50"}) { __typename ... on RefundRecorded { pointsClawedBack }
             ... on MutationError { code message } } }""",
        None,
        pos,
    )
    assert refund["data"]["recordRefund"]["pointsClawedBack"] == 90
    big = await api.call(PURCHASE, {"m": m, "o": "up", "lines": basket("5000")}, pos)
    assert big["data"]["recordPurchase"]["tierChange"] == {"toTier": "silver", "reason": "upgrade"}
    tier = await api.admin(
        """query($m: ID!) { member(id: $m) { tier { tier { code multiplier }
             qualifyingSpend nextTier { code } spendToNextTier } tierHistory { toTier } } }""",
        {"m": m},
    )
    assert tier["member"]["tier"] == {
        "tier": {"code": "silver", "multiplier": "1.2000"},
        "qualifyingSpend": "5050.00",
        "nextTier": {"code": "gold"},
        "spendToNextTier": "14950.00",
    }


async def test_a_purchase_answers_its_tier_change_as_the_tier_history_records_it(
    api: Api,
) -> None:
    await seed_earning(api.runtime)
    m = await api.register("pos", "climber")
    pos = await api.partner_headers(["points:earn", "members:read"], "pos")
    change = "tierChange { fromTier toTier reason qualifyingSpend createdAt }"
    body = await api.call(
        PURCHASE.replace("tierChange { toTier reason }", change),
        {"m": m, "o": "big", "lines": basket("5000")},
        pos,
    )
    answered = body["data"]["recordPurchase"]["tierChange"]
    history = await api.admin(
        "query($m: ID!) { member(id: $m) { tierHistory { fromTier toTier reason "
        "qualifyingSpend createdAt } } }",
        {"m": m},
    )
    assert answered == history["member"]["tierHistory"][0]
    assert (answered["fromTier"], answered["toTier"]) == ("normal", "silver")
    assert None not in answered.values()


async def test_bad_input_is_refused_and_writes_nothing(api: Api) -> None:
    await seed_earning(api.runtime)
    m = await api.register("pos", "buyer")
    before = await api.ledger_state(m)
    for lines, field in (
        (basket("10.001"), "lines[0].amount"),
        (basket(*["1"] * 10_000), "lines"),
        (basket("-1"), "lines[0].amount"),
    ):
        body = await api.call(PURCHASE, {"m": m, "o": "bad", "lines": lines}, api.staff_headers())
        result = body["data"]["recordPurchase"]
        assert (result["code"], result["field"]) == ("INVALID_INPUT", field), result
    rule = (
        "mutation($r: EarningRuleInput!) { createEarningRule(input: {rule: $r}) " + PAYLOAD + " }"
    )
    for bad, message in (
        (
            {"name": "neg", "trigger": "PURCHASE", "effect": {"kind": "PER_UNIT", "rate": "-1"}},
            "must not be negative",
        ),
        (
            {
                "name": "window",
                "trigger": "PURCHASE",
                "effect": {"kind": "FIXED", "points": 5},
                "conditions": {"dateFrom": "2026-06-20", "dateTo": "2026-06-01"},
            },
            "ends before",
        ),
        (
            {
                "name": "evt",
                "trigger": "EVENT",
                "event": "share",
                "effect": {"kind": "FIXED", "points": 5},
                "conditions": {"categories": ["x"]},
            },
            "cannot have purchase conditions",
        ),
        (
            {
                "name": "tier",
                "trigger": "PURCHASE",
                "effect": {"kind": "FIXED", "points": 5},
                "conditions": {"tiers": ["platinum"]},
            },
            "unknown tier",
        ),
    ):
        body = await api.call(rule, {"r": bad}, api.staff_headers())
        result = body["data"]["createEarningRule"]
        assert result["code"] == "INVALID_INPUT" and message in result["message"], result
    unknown = await api.call(
        rule,
        {
            "r": {
                "name": "x",
                "trigger": "PURCHASE",
                "effect": {"kind": "FIXED", "points": 1},
                "conditions": {"moonPhase": "full"},
            }
        },
        api.staff_headers(),
    )
    assert unknown["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert await api.ledger_state(m) == before


async def test_history_entries_explain_their_points(api: Api) -> None:
    await seed_earning(api.runtime)
    m = await api.register("pos", "explained")
    pos = await api.partner_headers(["points:earn"], "pos")
    await api.call(PURCHASE, {"m": m, "o": "why", "lines": basket("100")}, pos)
    await api.earn(m, 7, "plain")
    body = await api.admin(
        """query($m: ID!) { member(id: $m) { history(first: 5) { edges { node { amount reason
             breakdown { points rules { name kind points } } } } } } }""",
        {"m": m},
    )
    entries = [edge["node"] for edge in body["member"]["history"]["edges"]]
    plain, purchase = entries
    assert plain["amount"] == 7 and plain["breakdown"] is None
    assert purchase["amount"] == 180
    breakdown = purchase["breakdown"]
    assert breakdown["points"] == 180
    assert sum(rule["points"] for rule in breakdown["rules"]) == 180
    assert [rule["kind"] for rule in breakdown["rules"]] == ["per_unit", "percent_bonus", "fixed"]
