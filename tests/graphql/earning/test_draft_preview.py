"""previewPoints with a draft: an unsaved rule previewed as if saved, in place of the rule it
edits or as a new one; nothing is written, a bad draft is refused, and only staff may draft."""

from __future__ import annotations

from typing import Any

from app.seed import seed_earning
from tests.graphql.conftest import Api
from tests.graphql.earning.test_earning import basket

PREVIEW = """query($m: ID!, $lines: [PurchaseLine!]!, $draft: RuleDraftInput) {
  previewPoints(input: {memberId: $m, channel: "pos", lines: $lines, draft: $draft}) {
    points rules { name kind points } } }"""
RULES = "{ earningRules(first: 100) { edges { node { id name version enabled } } } }"


def rule(name: str, effect: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "trigger": "PURCHASE", "effect": effect}


async def preview(
    api: Api, member: str, draft: dict[str, Any] | None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return await api.call(
        PREVIEW,
        {"m": member, "lines": basket("100"), "draft": draft},
        headers or api.staff_headers("analyst", "zhao"),
    )


def points_by_rule(body: dict[str, Any]) -> dict[str, int]:
    return {r["name"]: r["points"] for r in body["data"]["previewPoints"]["rules"]}


async def test_a_draft_is_previewed_as_if_saved_and_nothing_is_written(api: Api) -> None:
    await seed_earning(api.runtime)
    member = await api.register("pos", "drafter")
    rules_before = await api.admin(RULES)
    base = next(
        edge["node"]
        for edge in rules_before["earningRules"]["edges"]
        if edge["node"]["name"] == "1 point per CNY"
    )
    saved = await preview(api, member, None)
    assert points_by_rule(saved)["1 point per CNY"] == 100

    edited = await preview(
        api,
        member,
        {"id": base["id"], "rule": rule("2 points per CNY", {"kind": "PER_UNIT", "rate": "2"})},
    )
    by_rule = points_by_rule(edited)
    assert by_rule["2 points per CNY"] == 200  # in place of the rule it edits
    assert "1 point per CNY" not in by_rule
    assert edited["data"]["previewPoints"]["points"] > saved["data"]["previewPoints"]["points"]

    added = await preview(
        api, member, {"rule": rule("preview bonus", {"kind": "FIXED", "points": 7})}
    )
    assert points_by_rule(added) == {**points_by_rule(saved), "preview bonus": 7}
    assert added["data"]["previewPoints"]["points"] == saved["data"]["previewPoints"]["points"] + 7

    assert await api.admin(RULES) == rules_before  # nothing saved, no new version
    assert await preview(api, member, None) == saved


async def test_a_bad_draft_is_refused_and_only_staff_may_draft(api: Api) -> None:
    await seed_earning(api.runtime)
    member = await api.register("pos", "drafter")

    def code(body: dict[str, Any]) -> str:
        assert body["data"] is None, body
        value: str = body["errors"][0]["extensions"]["code"]
        return value

    no_rate = {"rule": rule("broken", {"kind": "PER_UNIT"})}
    assert code(await preview(api, member, no_rate)) == "INVALID_INPUT"
    unknown = {"id": "999999", "rule": rule("ghost", {"kind": "FIXED", "points": 1})}
    assert code(await preview(api, member, unknown)) == "NOT_FOUND"
    draft = {"rule": rule("mine", {"kind": "FIXED", "points": 1000})}
    as_member = await preview(api, member, draft, api.member_headers(member))
    assert code(as_member) == "FORBIDDEN"
    # Without a draft the member may still preview their own basket.
    assert "errors" not in await preview(api, member, None, api.member_headers(member))
