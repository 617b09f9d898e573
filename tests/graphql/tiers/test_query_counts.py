"""The tiers and their audited changes read in a fixed number of statements, however many."""

from __future__ import annotations

from app.tiers.policy import DEMO_TIERS
from app.tiers.usecases import install_tiers
from tests.graphql.conftest import Api
from tests.graphql.statements import statements_of

TIERS = """query { tiers { code rank version upgradeTasks { target } }
  tierDefinitionVersions { code version definition { code } } }"""
SAVE = """mutation($c: String!, $r: Int!, $t: Decimal!) { saveTierDefinition(input: {code: $c,
  name: $c, rank: $r, threshold: $t, multiplier: "1"}) { __typename } }"""


async def test_tiers_take_the_same_statements_for_the_demo_ladder_or_three_more(
    api: Api,
) -> None:
    await install_tiers(api.runtime, DEMO_TIERS)
    headers = api.staff_headers("analyst")
    before = await statements_of(api, TIERS, {}, headers)
    top = max(tier.rank for tier in DEMO_TIERS)
    for n in range(1, 4):
        saved = await api.admin(SAVE, {"c": f"top-{n}", "r": top + n, "t": str(10**6 * n)})
        assert saved["saveTierDefinition"]["__typename"] == "TierDefinitionSaved", saved
    after = await statements_of(api, TIERS, {}, headers)
    assert len(after) == len(before), "\n\n".join(after)
