"""Introspection is for signed-in callers (unless turned on for everyone), and a query's cost,
introspection included, is limited."""

from __future__ import annotations

from graphql import get_introspection_query

from app.clock import FrozenClock
from app.config import Settings
from tests.graphql.conftest import Api, api_with

# What GraphiQL asks for (its fragments FullType, InputValue and TypeRef), as one selection.
INTROSPECTION = get_introspection_query()
FRAGMENTS = INTROSPECTION[INTROSPECTION.index("fragment FullType") :]
DEEP_SCHEMA = "__schema { types { ...FullType } directives { name args { ...InputValue } } }"


def aliased(selection: str, count: int) -> str:
    return "{ " + " ".join(f"a{i}: {selection}" for i in range(count)) + " } " + FRAGMENTS


async def test_anonymous_callers_get_no_introspection(api: Api) -> None:
    for query in ("{ __schema { queryType { name } } }", '{ __type(name: "Member") { name } }'):
        response = await api.post(query)
        error = response.json()["errors"][0]  # one error for each introspection field
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert "introspection has been disabled" in error["message"]
    # __typename is not introspection of the schema.
    assert (await api.post("{ __typename }")).json() == {"data": {"__typename": "Query"}}


async def test_signed_in_callers_get_the_full_introspection_graphiql_sends(api: Api) -> None:
    member = await api.register("pos", "m1")  # a member token counts only for a member that is
    for headers in (api.member_headers(member), api.staff_headers("analyst")):
        body = await api.call(get_introspection_query(descriptions=True), headers=headers)
        assert "errors" not in body, body
        assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_anonymous_introspection_can_be_turned_on(
    settings: Settings, clock: FrozenClock
) -> None:
    async with api_with(settings, clock, introspection_anonymous=True) as open_api:
        body = await open_api.call("{ __schema { queryType { name } } }")
        assert body == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


async def test_thirty_deep_introspections_cost_too_much_even_signed_in(api: Api) -> None:
    response = await api.post(aliased(DEEP_SCHEMA, 30), headers=api.staff_headers())
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "over the limit of 100000" in error["message"]
    one = await api.call(aliased(DEEP_SCHEMA, 1), headers=api.staff_headers())
    assert "errors" not in one


async def test_fragments_are_costed_where_they_are_spread(
    settings: Settings, clock: FrozenClock
) -> None:
    # Each spread under a list costs its fragment once per item: a reused fragment is no
    # way around the limit.
    query = """{ __schema { types { ...T } } }
      fragment T on __Type { fields { ...F } inputFields { name } }
      fragment F on __Field { name type { name } args { name } }"""
    async with api_with(settings, clock, max_query_cost=500) as small:
        response = await small.post(query, headers=small.staff_headers())
        [error] = response.json()["errors"]
        # __schema 1 + 10 types * (fields 1 + 10 * (name 1 + type 2 + args 11) + inputFields 11)
        assert "this query would cost about 1522, over the limit of 500" in error["message"]
