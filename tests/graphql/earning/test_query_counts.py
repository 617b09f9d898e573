"""Earning's lists read in a fixed number of statements, however long the page."""

from __future__ import annotations

from tests.graphql.conftest import Api
from tests.graphql.statements import assert_same_statements

CREATE = """mutation($n: String!) { createEarningRule(input: {rule: {name: $n, trigger: PURCHASE,
  effect: {kind: FIXED, points: 1}}}) { __typename } }"""
RULES = """query($n: Int!) { earningRules(first: $n) {
  edges { cursor node { id name enabled version spec } } pageInfo { hasNextPage } } }"""


async def test_an_earning_rules_page_takes_the_same_statements_for_one_rule_or_five(
    api: Api,
) -> None:
    for n in range(5):
        await api.admin(CREATE, {"n": f"rule {n}"})
    await assert_same_statements(api, RULES, {"n": 1}, {"n": 5}, api.staff_headers("analyst"))


VERSIONS = """query($n: Int!) { earningRules(first: $n) {
  edges { node { id versions { version change enabled actor createdAt } } } } }"""


async def test_the_versions_of_a_rules_page_take_one_statement_for_one_rule_or_five(
    api: Api,
) -> None:
    for n in range(5):
        await api.admin(CREATE, {"n": f"rule {n}"})
    await assert_same_statements(api, VERSIONS, {"n": 1}, {"n": 5}, api.staff_headers("analyst"))
