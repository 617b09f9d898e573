"""Input the API cannot hold is refused at its edge with a clear error, and nothing is written
(app/graphql/core/boundary.py; docs/API.md "Limits"). Each of these answered a masked
INTERNAL_SERVER_ERROR before."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from graphql import GraphQLError, GraphQLScalarType

from app.config import Settings
from app.graphql.schema import build_schema
from tests.graphql.conftest import Api, assert_audit_clean

HOSTILE_STRINGS = {"nul": "ref\x00x", "lone surrogate": "ref\ud800x"}

# (mutation, input type, an input valid but for the field that gets the hostile string)
STRING_FIELDS: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "registerMember",
        "RegisterMemberInput",
        {"channel": "pos", "externalRef": "r"},
        "externalRef",
    ),
    ("registerMember", "RegisterMemberInput", {"channel": "pos", "externalRef": "r"}, "name"),
    ("registerMember", "RegisterMemberInput", {"channel": "pos", "externalRef": "r"}, "channel"),
    ("createCharity", "CreateCharityInput", {"code": "c", "name": "n"}, "code"),
    ("createCharity", "CreateCharityInput", {"code": "c", "name": "n"}, "name"),
]
MEMBER_STRING_FIELDS: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "earnPoints",
        "EarnPointsInput",
        {"amount": 5, "reason": "r", "idempotencyKey": "k"},
        "reason",
    ),
    (
        "earnPoints",
        "EarnPointsInput",
        {"amount": 5, "reason": "r", "idempotencyKey": "k"},
        "idempotencyKey",
    ),
    ("setMemberStatus", "SetMemberStatusInput", {"status": "FROZEN", "reason": "r"}, "reason"),
    (
        "recordEvent",
        "RecordEventInput",
        {"channel": "pos", "eventId": "e1", "name": "visit"},
        "eventId",
    ),
    (
        "holdCheckoutPoints",
        "HoldCheckoutPointsInput",
        {"channel": "pos", "orderRef": "o1", "amount": "100", "points": 10},
        "orderRef",
    ),
]


def mutation(field: str, input_type: str) -> str:
    return f"""mutation($i: {input_type}!) {{ {field}(input: $i) {{
      __typename ... on MutationError {{ code message field }} }} }}"""


@pytest.fixture
async def member(api: Api) -> str:
    member_id = await api.register("pos", "limits")
    await api.earn(member_id, 100, "seed")
    return member_id


async def rows_written(api: Api) -> tuple[int, ...]:
    """Everything a refused write could have added to."""
    async with api.runtime.engine.connect() as conn:
        counts = await conn.exec_driver_sql(
            "SELECT (SELECT count(*) FROM members), (SELECT count(*) FROM entries),"
            " (SELECT count(*) FROM events), (SELECT count(*) FROM charities)"
        )
        return tuple(counts.one())


async def post_escaped(
    api: Api, query: str, variables: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    """POST with every non-ASCII character escaped: a lone surrogate travels as JSON allows
    (``"\\ud800"``), where httpx's own encoder would refuse to send it."""
    return await api.client.post(
        "/graphql",
        content=json.dumps({"query": query, "variables": variables}),
        headers={"content-type": "application/json", **headers},
    )


def refused(response: Any, status: int = 400) -> str:
    assert response.status_code == status, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "INVALID_INPUT"
    message: str = error["message"]
    return message


@pytest.mark.parametrize("hostile", HOSTILE_STRINGS.values(), ids=HOSTILE_STRINGS.keys())
@pytest.mark.parametrize(
    ("field", "input_type", "valid", "at"),
    STRING_FIELDS + MEMBER_STRING_FIELDS,
    ids=[f"{case[0]}.{case[3]}" for case in STRING_FIELDS + MEMBER_STRING_FIELDS],
)
async def test_unstorable_text_in_a_variable_is_refused(
    api: Api, member: str, hostile: str, field: str, input_type: str, valid: dict[str, Any], at: str
) -> None:
    value = dict(valid, **{at: hostile})
    if (field, input_type, valid, at) in MEMBER_STRING_FIELDS:
        value["memberId"] = member
    before = await rows_written(api)
    response = await post_escaped(
        api, mutation(field, input_type), {"i": value}, api.staff_headers()
    )
    assert "contains a" in refused(response)
    assert await rows_written(api) == before


# A lone surrogate escape in a literal ("\\uD800") is already a syntax error for graphql-core.
@pytest.mark.parametrize("escape", ["\\u0000", "\\u{0}"])
async def test_a_nul_in_a_string_literal_is_refused(api: Api, escape: str) -> None:
    query = (
        'mutation { registerMember(input: {channel: "pos", externalRef: "a%sb"}) { __typename } }'
    )
    before = await rows_written(api)
    body = await api.call(query % escape, None, api.staff_headers())
    assert body.get("data") is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "INVALID_INPUT"
    assert await rows_written(api) == before


async def test_unstorable_text_in_a_json_scalar_is_refused(api: Api) -> None:
    query = """mutation($s: JSON!) { createEarningRule(input: {code: "r", name: "r",
      spec: $s}) { __typename } }"""
    headers = api.staff_headers()
    response = await post_escaped(api, query, {"s": {"kind": "fixed\x00", "points": 1}}, headers)
    assert "NUL" in refused(response)
    response = await post_escaped(api, query, {"s": {"k\ud800": 1}}, headers)
    assert "surrogate" in refused(response)


DECIMALS = ["NaN", "sNaN", "Infinity", "-Infinity", "1e400", "1E-400", "1e12", "0.0000001"]


@pytest.mark.parametrize("amount", DECIMALS)
async def test_a_decimal_the_columns_cannot_hold_is_refused(
    api: Api, member: str, amount: str
) -> None:
    checkout = {"memberId": member, "channel": "pos", "orderRef": "o1", "amount": amount}
    item = {"code": "i", "name": "i", "kind": "GOODS", "pointsPrice": 10, "cashPrice": amount}
    partner = {
        "code": "p",
        "name": "p",
        "rateIn": amount,
        "rateOut": "1",
        "minPoints": 1,
        "maxPoints": 100,
        "dailyLimit": 100,
    }
    for field, input_type, value in (
        ("holdCheckoutPoints", "HoldCheckoutPointsInput", dict(checkout, points=10)),
        ("createMallItem", "CreateMallItemInput", {"item": item}),
        ("saveExchangePartner", "ExchangePartnerInput", partner),
    ):
        before = await rows_written(api)
        body = await api.call(mutation(field, input_type), {"i": value}, api.staff_headers())
        assert body.get("data") is None, body
        [error] = body["errors"]
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert "Decimal" in error["message"]
        assert await rows_written(api) == before


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "1e400", "0.0000001"])
async def test_a_decimal_literal_the_columns_cannot_hold_is_refused(
    api: Api, member: str, amount: str
) -> None:
    # Found by the schema fuzz: in a literal, the scalar's refusal was masked as INTERNAL.
    query = f"""mutation {{ holdCheckoutPoints(input: {{memberId: "{member}", channel: "pos",
      orderRef: "o1", amount: "{amount}", points: 10}}) {{ __typename }} }}"""
    before = await rows_written(api)
    body = await api.call(query, None, api.staff_headers())
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Decimal" in error["message"]
    assert await rows_written(api) == before


async def test_a_decimal_that_fits_is_still_taken(api: Api) -> None:
    item = {"code": "i", "name": "i", "kind": "GOODS", "pointsPrice": 10, "cashPrice": "999999.99"}
    data = await api.admin(
        mutation("createMallItem", "CreateMallItemInput").replace(
            "__typename", "__typename ... on MallItemPayload { item { cashPrice } }"
        ),
        {"i": {"item": item}},
    )
    assert data["createMallItem"]["item"]["cashPrice"] == "999999.99"


MEMBER_BY_REF = 'query($r: String!) { memberByRef(channel: "pos", externalRef: $r) { id } }'


async def test_a_10_mb_body_is_refused_with_413(api: Api) -> None:
    huge = "x" * 10_000_000
    response = await api.post(MEMBER_BY_REF, {"r": huge}, api.staff_headers())
    message = refused(response, 413)
    assert "larger than" in message
    assert len(response.content) < 1000


async def test_a_not_found_message_does_not_echo_a_long_argument(api: Api) -> None:
    long_ref = "y" * 500_000
    body = await api.call(MEMBER_BY_REF, {"r": long_ref}, api.staff_headers())
    [error] = body["errors"]
    assert error["extensions"]["code"] in {"NOT_FOUND", "INVALID_INPUT"}
    assert len(error["message"]) < 200


async def test_a_100_000_level_deep_json_body_is_refused(api: Api) -> None:
    deep = '{"query": "{ __typename }", "variables": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    response = await api.client.post(
        "/graphql",
        content=deep,
        headers={"content-type": "application/json", **api.staff_headers()},
    )
    assert "nested deeper" in refused(response)


async def test_json_nested_past_the_limit_is_refused(api: Api) -> None:
    depth = api.settings.max_json_depth + 1
    nested: Any = 1
    for _ in range(depth):
        nested = [nested]
    response = await api.post("{ __typename }", {"x": nested}, api.staff_headers())
    assert "nested deeper" in refused(response)


async def test_a_body_that_is_not_json_is_a_clear_400(api: Api) -> None:
    response = await api.client.post(
        "/graphql",
        content=b"\xff\xfe{",
        headers={"content-type": "application/json", **api.staff_headers()},
    )
    refused(response)


async def test_a_member_id_above_the_bigint_range_in_a_token_is_unauthenticated(
    api: Api, member: str
) -> None:
    # mint_token refuses such a subject; a token signed with the secret by anyone else may not.
    now = datetime.now(UTC)
    claims = {"sub": f"member:{2**63}", "iss": api.settings.jwt_issuer, "iat": now}
    token = jwt.encode(
        {**claims, "exp": now + timedelta(hours=1)}, api.settings.jwt_secret or "", "HS256"
    )
    response = await api.post("{ me { id } }", None, {"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # The largest id that fits names no member: refused as such, never a crash.
    response = await api.post("{ me { id } }", None, api.member_headers(2**63 - 1))
    assert response.status_code < 500
    assert response.json()["errors"][0]["extensions"]["code"] in {"NOT_FOUND", "UNAUTHENTICATED"}


PROFILE = mutation("updateMemberProfile", "UpdateMemberProfileInput")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "n" * 101}, "name"),
        ({"phone": "1" * 33}, "phone"),
        ({"tags": ["vip"] * 51}, "tags"),
        ({"tags": ["t" * 65]}, "tags"),
        ({"tags": [""]}, "tags"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
    ],
)
async def test_profile_fields_beyond_their_limits_are_invalid(
    api: Api, member: str, change: dict[str, Any], field: str
) -> None:
    before = await api.ledger_state(member)
    body = await api.call(PROFILE, {"i": {"memberId": member, **change}}, api.staff_headers())
    payload = body["data"]["updateMemberProfile"]
    assert (payload["__typename"], payload["code"], payload["field"]) == (
        "MutationError",
        "INVALID_INPUT",
        field,
    )
    data = await api.admin(
        "query($m: ID!) { member(id: $m) { name tags timezone } }", {"m": member}
    )
    assert data["member"] == {"name": None, "tags": [], "timezone": None}
    assert await api.ledger_state(member) == before


async def test_a_known_time_zone_and_tags_are_kept(api: Api, member: str) -> None:
    change = {"memberId": member, "timezone": "Europe/Paris", "tags": ["vip"] * 50}
    body = await api.call(PROFILE, {"i": change}, api.staff_headers())
    assert body["data"]["updateMemberProfile"]["__typename"] == "MemberPayload"


async def test_a_long_name_at_registration_is_invalid(api: Api) -> None:
    body = await api.call(
        mutation("registerMember", "RegisterMemberInput"),
        {"i": {"channel": "pos", "externalRef": "r", "name": "n" * 5_000}},
        api.staff_headers(),
    )
    payload = body["data"]["registerMember"]
    assert (payload["code"], payload["field"]) == ("INVALID_INPUT", "name")


EARN_VARIABLES = """mutation($m: ID!, $k: String!) { earnPoints(input: {memberId: $m,
  amount: 5, reason: "r", idempotencyKey: $k}) { __typename } }"""


async def test_the_ledger_audit_passes_after_the_refusals(api: Api, member: str) -> None:
    for hostile in HOSTILE_STRINGS.values():
        await post_escaped(api, EARN_VARIABLES, {"m": member, "k": hostile}, api.staff_headers())
    await assert_audit_clean(api)


# Every DateTime input of the API (arguments and input fields alike) is the one DateTime scalar
# of the schema, AwareDateTime: a time without its offset is refused there, for any field.
REFUSED_TIMES = ["2030-01-01T10:00:00", "2030-01-01", "0001-01-01T00:00:00+08:00", "soon", "1"]


@pytest.mark.parametrize("value", REFUSED_TIMES)
def test_the_schemas_datetime_scalar_refuses_a_time_without_offset(value: str) -> None:
    schema = build_schema(Settings(_env_file=None))  # type: ignore[call-arg]  # printing only
    scalar = schema._schema.type_map["DateTime"]
    assert isinstance(scalar, GraphQLScalarType)
    with pytest.raises(GraphQLError, match="DateTime"):
        scalar.parse_value(value)
    taken = scalar.parse_value("2030-01-01T10:00:00+08:00")
    assert taken == datetime(2030, 1, 1, 2, 0, tzinfo=UTC)


DATETIME_FIELDS: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "earnPoints",
        "EarnPointsInput",
        {"amount": 5, "reason": "r", "idempotencyKey": "k"},
        "expiresAt",
    ),
    (
        "holdPoints",
        "HoldPointsInput",
        {"amount": 5, "reason": "r", "idempotencyKey": "h"},
        "expiresAt",
    ),
    ("setPointValue", "SetPointValueInput", {"value": "0.01", "reason": "r"}, "effectiveFrom"),
]


@pytest.mark.parametrize(
    ("field", "input_type", "valid", "at"),
    DATETIME_FIELDS,
    ids=[f"{case[0]}.{case[3]}" for case in DATETIME_FIELDS],
)
async def test_a_time_without_offset_is_refused_and_nothing_is_written(
    api: Api, member: str, field: str, input_type: str, valid: dict[str, Any], at: str
) -> None:
    value = dict(valid, **{at: "2030-01-01T10:00:00"})
    if "amount" in valid:
        value["memberId"] = member
    before = await rows_written(api)
    body = await api.call(mutation(field, input_type), {"i": value}, api.staff_headers())
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "time zone offset" in error["message"]
    assert await rows_written(api) == before
    # The same time with its offset is taken.
    value[at] = "2030-01-01T10:00:00+08:00"
    taken = await api.call(mutation(field, input_type), {"i": value}, api.staff_headers())
    assert taken["data"][field]["__typename"] != "MutationError", taken


async def test_a_datetime_literal_without_offset_is_refused(api: Api, member: str) -> None:
    query = f"""mutation {{ earnPoints(input: {{memberId: "{member}", amount: 5, reason: "r",
      idempotencyKey: "k", expiresAt: "2030-01-01T00:00:00"}}) {{ __typename }} }}"""
    before = await rows_written(api)
    body = await api.call(query, None, api.staff_headers())
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "time zone offset" in error["message"]
    assert await rows_written(api) == before
