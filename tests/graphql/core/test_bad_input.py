"""Bad input gets a clear error code and leaves the ledger exactly as it was."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.auth.tokens import mint_token
from tests.graphql.conftest import Api

EARN = """mutation($m: ID!, $a: Int!) { earnPoints(input: {memberId: $m, amount: $a,
  reason: "test", idempotencyKey: "bad-1"}) {
  __typename ... on MutationError { code message field } } }"""
SPEND = """mutation($m: ID!, $a: Int!) { spendPoints(input: {memberId: $m, amount: $a,
  reason: "test", idempotencyKey: "bad-2"}) {
  __typename ... on MutationError { code message field } } }"""


@pytest.fixture
async def member(api: Api) -> str:
    member_id = await api.register("pos", "bad-input")
    await api.earn(member_id, 100, "seed")
    return member_id


async def unchanged(api: Api, member_id: str, act: Callable[[], Awaitable[Any]]) -> Any:
    before = await api.ledger_state(member_id)
    result = await act()
    assert await api.ledger_state(member_id) == before
    return result


def mutation_error(body: dict[str, Any], field: str) -> dict[str, Any]:
    payload: dict[str, Any] = body["data"][field]
    assert payload["__typename"] == "MutationError", body
    return payload


@pytest.mark.parametrize("amount", [0, -5])
async def test_zero_and_negative_amounts_are_invalid(api: Api, member: str, amount: int) -> None:
    for query, field in ((EARN, "earnPoints"), (SPEND, "spendPoints")):
        variables = {"m": member, "a": amount}
        body = await unchanged(
            api, member, functools.partial(api.call, query, variables, api.staff_headers())
        )
        error = mutation_error(body, field)
        assert (error["code"], error["field"]) == ("INVALID_INPUT", "amount")


async def test_above_the_per_operation_maximum_is_invalid(api: Api, member: str) -> None:
    too_many = api.settings.max_points_per_operation + 1
    body = await unchanged(
        api, member, lambda: api.call(EARN, {"m": member, "a": too_many}, api.staff_headers())
    )
    assert mutation_error(body, "earnPoints")["code"] == "INVALID_INPUT"


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (1.5, "Int cannot represent non-integer value: 1.5"),
        (10**30, "Int cannot represent non 32-bit signed integer value"),
    ],
)
async def test_fractional_and_absurd_amounts_fail_validation(
    api: Api, member: str, amount: float, message: str
) -> None:
    body = await unchanged(
        api, member, lambda: api.call(EARN, {"m": member, "a": amount}, api.staff_headers())
    )
    assert body["data"] is None
    [error] = body["errors"]
    assert message in error["message"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_a_literal_fraction_fails_validation(api: Api, member: str) -> None:
    query = EARN.replace("amount: $a", "amount: 2.5").replace(", $a: Int!", "")
    body = await unchanged(api, member, lambda: api.call(query, {"m": member}, api.staff_headers()))
    assert "Int cannot represent non-integer value: 2.5" in body["errors"][0]["message"]


async def test_unknown_and_malformed_member_ids(api: Api, member: str) -> None:
    body = await unchanged(
        api, member, lambda: api.call(EARN, {"m": "999999", "a": 5}, api.staff_headers())
    )
    assert mutation_error(body, "earnPoints")["code"] == "NOT_FOUND"
    body = await unchanged(
        api, member, lambda: api.call(EARN, {"m": "forty-two", "a": 5}, api.staff_headers())
    )
    error = mutation_error(body, "earnPoints")
    assert (error["code"], error["field"]) == ("INVALID_INPUT", "memberId")
    body = await api.call(
        '{ member(id: "99999999999999999999") { id } }', None, api.staff_headers()
    )
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_a_frozen_member_cannot_spend(api: Api, member: str) -> None:
    await api.admin(
        """mutation($m: ID!) { setMemberStatus(input: {memberId: $m, status: FROZEN,
             reason: "fraud check"}) { __typename } }""",
        {"m": member},
    )
    body = await unchanged(
        api, member, lambda: api.call(SPEND, {"m": member, "a": 10}, api.staff_headers())
    )
    assert mutation_error(body, "spendPoints")["code"] == "MEMBER_NOT_ACTIVE"


async def test_another_members_id_with_a_member_token(api: Api, member: str) -> None:
    other = await api.register("pos", "someone-else")
    body = await unchanged(
        api,
        member,
        lambda: api.call(
            "query($m: ID!) { member(id: $m) { balance { total } } }",
            {"m": member},
            api.member_headers(other),
        ),
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("credential", ["missing", "forged", "expired", "garbage", "bad key"])
async def test_missing_or_bad_credentials(api: Api, member: str, credential: str) -> None:
    forged = mint_token(
        api.settings.model_copy(update={"jwt_secret": "x" * 40}), "staff:eve", ["admin"]
    )
    long_ago = datetime.now(UTC) - timedelta(days=2)
    expired = mint_token(api.settings, "staff:alice", ["admin"], issued_at=long_ago, ttl_seconds=60)
    headers = {
        "missing": {},
        "forged": {"Authorization": f"Bearer {forged}"},
        "expired": {"Authorization": f"Bearer {expired}"},
        "garbage": {"Authorization": "Bearer not-a-jwt"},
        "bad key": {"X-Api-Key": "jf_0123456789ab_wrong"},
    }[credential]
    response = await unchanged(api, member, lambda: api.post(EARN, {"m": member, "a": 5}, headers))
    if credential == "missing":
        assert response.status_code == 200
        assert mutation_error(response.json(), "earnPoints")["code"] == "UNAUTHENTICATED"
    else:
        assert response.status_code == 401
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
    if credential == "expired":
        assert "expired" in response.json()["errors"][0]["message"]


async def test_a_50_level_deep_query_is_rejected(api: Api, member: str) -> None:
    query = "query($m: ID!) { member(id: $m) { " + _deep_selection(50) + " } }"
    body = await unchanged(api, member, lambda: api.call(query, {"m": member}, api.staff_headers()))
    assert body["data"] is None
    messages = [error["message"] for error in body["errors"]]
    assert any("exceeds maximum operation depth of 12" in message for message in messages)
    assert {error["extensions"]["code"] for error in body["errors"]} == {
        "GRAPHQL_VALIDATION_FAILED"
    }


def _deep_selection(depth: int) -> str:
    # Any selection nested ``depth`` levels deep; unknown fields would be rejected too, but the
    # depth limiter must be what stops it, so the message is asserted.
    selection = "x"
    for level in range(depth):
        selection = f"f{level} {{ {selection} }}"
    return selection


async def test_a_thousand_aliases_are_rejected(api: Api, member: str) -> None:
    aliases = " ".join(f"a{i}: id" for i in range(1000))
    query = "query($m: ID!) { member(id: $m) { " + aliases + " } }"
    body = await unchanged(api, member, lambda: api.call(query, {"m": member}, api.staff_headers()))
    assert body["data"] is None
    # 1,000 aliases are 3,000 tokens: the token limit stops it before it is even parsed.
    assert "Document contains more than 2000 tokens" in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_a_thousand_aliases_within_the_token_limit_hit_the_alias_limit(
    api: Api, member: str
) -> None:
    many = api.settings.max_query_aliases + 1
    aliases = " ".join(f"a{i}: id" for i in range(many))
    query = "query($m: ID!) { member(id: $m) { " + aliases + " } }"
    body = await api.call(query, {"m": member}, api.staff_headers())
    assert "aliases" in body["errors"][0]["message"]


async def test_a_query_over_the_token_limit_is_rejected(api: Api, member: str) -> None:
    fields = " ".join("id" for _ in range(api.settings.max_query_tokens + 10))
    query = "query($m: ID!) { member(id: $m) { " + fields + " } }"
    body = await unchanged(api, member, lambda: api.call(query, {"m": member}, api.staff_headers()))
    assert body["data"] is None
    assert "more than 2000 tokens" in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


@pytest.mark.parametrize("cursor", ["not base64!", "bG90OjE=", "ZW50cnk6LTU="])
async def test_a_bad_cursor_is_invalid_input(api: Api, member: str, cursor: str) -> None:
    body = await api.call(
        """query($m: ID!, $c: String) { member(id: $m) {
             history(first: 5, after: $c) { edges { cursor } } } }""",
        {"m": member, "c": cursor},
        api.staff_headers(),
    )
    assert body["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "field": "after"}


async def test_first_above_the_cap_is_invalid_input(api: Api, member: str) -> None:
    body = await api.call(
        "query($m: ID!) { member(id: $m) { history(first: 101) { edges { cursor } } } }",
        {"m": member},
        api.staff_headers(),
    )
    assert body["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "field": "first"}


async def test_history_pages_with_cursors(api: Api, member: str) -> None:
    for i in range(4):
        await api.earn(member, 1, f"page-{i}")
    query = """query($m: ID!, $c: String) { member(id: $m) { history(first: 2, after: $c) {
                 edges { node { id } } pageInfo { hasNextPage endCursor } } } }"""
    seen: list[str] = []
    cursor = None
    while True:
        data = await api.admin(query, {"m": member, "c": cursor})
        page = data["member"]["history"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        cursor = page["pageInfo"]["endCursor"]
    assert seen == sorted(seen, key=int, reverse=True)
    assert len(seen) == 5
