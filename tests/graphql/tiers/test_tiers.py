"""Tiers through the API: staff edit definitions (versioned, audited, checked as a ladder);
members see this quarter's tasks."""

from __future__ import annotations

from typing import Any

from app.seed import seed_earning
from tests.graphql.conftest import Api

SAVE = """mutation($input: SaveTierDefinitionInput!) { saveTierDefinition(input: $input) {
  __typename
  ... on TierDefinitionSaved { changed tier { code multiplier version
        keepTask { measure target } upgradeTasks { measure target } } }
  ... on MutationError { code message field } } }"""
TIERS = "{ tiers { code rank threshold multiplier version } }"
VERSIONS = "{ tierDefinitionVersions { code version change actor definition { multiplier } } }"

SILVER: dict[str, Any] = {
    "code": "silver",
    "name": "银卡",
    "rank": 1,
    "threshold": "5000",
    "multiplier": "1.2",
    "benefits": ["birthday gift", "free delivery"],
    "upgradeTasks": [{"measure": "QUARTER_REFERRALS", "target": "3"}],
}


async def save(api: Api, definition: dict[str, Any], role: str = "operator") -> dict[str, Any]:
    body = await api.call(SAVE, {"input": definition}, api.staff_headers(role, "olga"))
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["saveTierDefinition"]
    return result


async def test_staff_change_a_tier_and_the_change_is_versioned_and_audited(api: Api) -> None:
    await seed_earning(api.runtime)
    unchanged = await save(api, SILVER)
    assert unchanged["changed"] is False and unchanged["tier"]["version"] == 1
    richer = await save(api, {**SILVER, "multiplier": "1.25", "expectedVersion": 1})
    assert richer["changed"] is True
    assert richer["tier"]["version"] == 2 and richer["tier"]["multiplier"] == "1.2500"
    platinum = await save(
        api,
        {
            "code": "platinum",
            "name": "铂金卡",
            "rank": 4,
            "threshold": "100000",
            "multiplier": "2.5",
            "keepTask": {"measure": "QUARTER_SPEND", "target": "20000"},
        },
    )
    assert platinum["tier"]["keepTask"] == {"measure": "QUARTER_SPEND", "target": "20000"}
    tiers = (await api.admin(TIERS))["tiers"]
    assert [(t["code"], t["version"]) for t in tiers] == [
        ("normal", 1),
        ("silver", 2),
        ("gold", 1),
        ("diamond", 1),
        ("platinum", 1),
    ]
    versions = (await api.admin(VERSIONS))["tierDefinitionVersions"]
    assert versions == [
        {
            "code": "platinum",
            "version": 1,
            "change": "created",
            "actor": "staff:olga",
            "definition": {"multiplier": "2.5000"},
        },
        {
            "code": "silver",
            "version": 2,
            "change": "updated",
            "actor": "staff:olga",
            "definition": {"multiplier": "1.2500"},
        },
    ]


async def test_a_bad_or_stale_definition_is_refused_and_changes_nothing(api: Api) -> None:
    await seed_earning(api.runtime)
    before = await api.admin(TIERS)
    refusals = [
        ({**SILVER, "threshold": "25000"}, "threshold"),  # above gold's: the ladder must rise
        ({**SILVER, "rank": 0}, "rank"),  # 普卡's rank
        ({**SILVER, "multiplier": "-1"}, "multiplier"),
        ({**SILVER, "threshold": "5000.005"}, "threshold"),
        ({**SILVER, "code": "x" * 33}, "code"),
        ({**SILVER, "expectedVersion": 7}, "expectedVersion"),
        ({**SILVER, "upgradeTasks": [{"measure": "QUARTER_SPEND", "target": "0"}]}, None),
        ({**SILVER, "code": "normal", "rank": 0, "threshold": "0"}, None),  # tasks on the base
    ]
    for definition, field in refusals:
        result = await save(api, definition)
        assert result["__typename"] == "MutationError", definition
        assert result["code"] == "INVALID_INPUT", result
        if field is not None:
            assert result["field"] == field, result
    assert await api.admin(TIERS) == before
    assert (await api.admin(VERSIONS))["tierDefinitionVersions"] == []
    analyst = await save(api, {**SILVER, "multiplier": "9"}, role="analyst")
    assert analyst["code"] == "FORBIDDEN"
    assert await api.admin(TIERS) == before


async def test_a_member_sees_this_quarters_tasks_toward_the_next_tiers(api: Api) -> None:
    await seed_earning(api.runtime)
    m = await api.register("pos", "tasks")
    pos = await api.partner_headers(["points:earn"], "pos")
    body = await api.call(
        """mutation($m: ID!) { recordPurchase(input: {memberId: $m, channel: "pos",
             orderId: "t1", lines: [{sku: "s", category: "grocery", quantity: 1,
             amount: "1500"}]}) { __typename } }""",
        {"m": m},
        pos,
    )
    assert body["data"]["recordPurchase"]["__typename"] == "PurchaseRecorded", body
    tier = await api.call(
        """{ me { tier { tier { code } spendToNextTier
             tasks { tier purpose task { measure target } done remaining } } } }""",
        None,
        api.member_headers(m),
    )
    assert tier["data"]["me"]["tier"] == {
        "tier": {"code": "normal"},
        "spendToNextTier": "3500.00",
        "tasks": [
            {
                "tier": "silver",
                "purpose": "upgrade",
                "task": {"measure": "QUARTER_REFERRALS", "target": "3"},
                "done": "0",
                "remaining": "3",
            },
            {
                "tier": "gold",
                "purpose": "upgrade",
                "task": {"measure": "QUARTER_SPEND", "target": "8000"},
                "done": "1500.00",
                "remaining": "6500.00",
            },
        ],
    }
