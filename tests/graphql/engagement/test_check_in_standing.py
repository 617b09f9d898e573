"""checkIn without the member's standing read first (migration 0042, app/graphql/core/standing.py):
an active member's check-in is the one statement alone, and every other member is answered
exactly as when the standing was read before anything ran — frozen, closed, unknown, and the
refusals that come before the statement.

Each test first has another member check in, so that this process has the schedule and the
tasks cached and the check-in goes to the one statement (app/engagement/onetrip.py); the
statements each request runs show that it did."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.engagement.demo import seed_engagement
from app.engagement.tables import sign_ins
from app.ledger.models import Actor
from tests.graphql.conftest import Api
from tests.graphql.core.test_authz import set_status
from tests.graphql.statements import counting_statements

CHECK_IN = """mutation($m: ID!) { checkIn(input: {memberId: $m}) { __typename
  ... on CheckedIn { signIn { streak points } entry { amount } }
  ... on MutationError { code message field } } }"""
# A mutation that reads the standing before it runs: what a refused member was always answered.
RENAME = """mutation($m: ID!) { updateMemberProfile(input: {memberId: $m, name: "Zed"})
  { __typename ... on MutationError { code message field } } }"""
FROZEN = {
    "__typename": "MutationError",
    "code": "MEMBER_NOT_ACTIVE",
    "message": "the account is frozen: it may read, not checkIn",
    "field": None,
}


@pytest.fixture
async def warm(api: Api) -> None:
    """The demo programme, and one check-in by the ordinary path: the process's caches filled."""
    await seed_engagement(api.runtime, Actor("staff:seed"))
    first = await api.register("pos", "first")
    assert "CheckedIn" in str(await _check_in(api, first, first))


async def _check_in(api: Api, member: str, token_of: int | str) -> dict[str, Any]:
    body = await api.call(CHECK_IN, {"m": member}, api.member_headers(token_of))
    result: dict[str, Any] = body["data"]["checkIn"]
    return result


async def _signed_in(api: Api, member: str) -> int:
    async with api.runtime.engine.connect() as conn:
        query = select(func.count()).where(sign_ins.c.member_id == int(member))
        return int(await conn.scalar(query) or 0)


def _refused_whole(response: httpx.Response) -> dict[str, Any]:
    """An operation refused for the token's member, as the standing read first answers it."""
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    body: dict[str, Any] = response.json()
    return body


async def test_an_active_members_check_in_is_the_one_statement_alone(api: Api, warm: None) -> None:
    member = await api.register("pos", "active")

    with counting_statements(api) as statements:
        done = await _check_in(api, member, member)

    assert done == {
        "__typename": "CheckedIn",
        "signIn": {"streak": 1, "points": 5},
        "entry": {"amount": 5},
    }
    assert len(statements) == 1 and "engagement_check_in" in statements[0], statements
    with counting_statements(api) as statements:
        again = await _check_in(api, member, member)
    assert again["code"] == "ALREADY_EXISTS"
    assert await _signed_in(api, member) == 1


async def test_a_frozen_member_is_refused_after_the_statement_declines(
    api: Api, warm: None
) -> None:
    member = await api.register("pos", "frozen")
    signed_then_frozen = await api.register("pos", "signed")
    assert (await _check_in(api, signed_then_frozen, signed_then_frozen))[
        "__typename"
    ] == "CheckedIn"
    for who in (member, signed_then_frozen):
        await set_status(api, who, "FROZEN")
    before = [await api.ledger_state(member), await api.ledger_state(signed_then_frozen)]

    with counting_statements(api) as statements:
        refused = await _check_in(api, member, member)

    assert refused == FROZEN
    assert "engagement_check_in" in statements[0] and len(statements) == 2, "\n".join(statements)
    # Already signed in today, but frozen: the status comes first, as it always did.
    assert await _check_in(api, signed_then_frozen, signed_then_frozen) == FROZEN
    # A refusal before the statement waits for the standing's, which came first.
    assert await _check_in(api, signed_then_frozen, member) == FROZEN
    assert await _check_in(api, "abc", member) == FROZEN
    after = [await api.ledger_state(member), await api.ledger_state(signed_then_frozen)]
    assert after == before
    assert (await _signed_in(api, member), await _signed_in(api, signed_then_frozen)) == (0, 1)


async def test_a_closed_member_is_answered_as_by_the_standing_read_first(
    api: Api, warm: None
) -> None:
    member = await api.register("pos", "closed")
    other = await api.register("pos", "other")
    await set_status(api, member, "CLOSED")
    before = await api.ledger_state(member)
    token = api.member_headers(member)
    as_always = _refused_whole(await api.post(RENAME, {"m": member}, token))
    assert as_always == {
        "data": None,
        "errors": [
            {"message": "the member's account is closed", "extensions": {"code": "UNAUTHENTICATED"}}
        ],
    }

    with counting_statements(api) as statements:
        response = await api.post(CHECK_IN, {"m": member}, token)

    assert _refused_whole(response) == as_always
    assert "engagement_check_in" in statements[0] and len(statements) == 2, "\n".join(statements)
    for refused_before_the_statement in (other, "abc"):
        response = await api.post(CHECK_IN, {"m": refused_before_the_statement}, token)
        assert _refused_whole(response) == as_always
    assert await api.ledger_state(member) == before
    assert await _signed_in(api, member) == 0


async def test_a_token_for_no_member_is_answered_as_by_the_standing_read_first(
    api: Api, warm: None
) -> None:
    token = api.member_headers(4242)
    as_always = _refused_whole(await api.post(RENAME, {"m": "4242"}, token))
    assert as_always["errors"][0] == {
        "message": "the token's member does not exist",
        "extensions": {"code": "UNAUTHENTICATED"},
    }

    response = await api.post(CHECK_IN, {"m": "4242"}, token)

    assert _refused_whole(response) == as_always
    assert await _signed_in(api, "4242") == 0


async def test_staff_still_check_a_frozen_member_in(api: Api, warm: None) -> None:
    member = await api.register("pos", "frozen")
    await set_status(api, member, "FROZEN")

    body = await api.call(CHECK_IN, {"m": member}, api.staff_headers("operator"))

    assert body["data"]["checkIn"]["__typename"] == "CheckedIn", body
    assert (await api.ledger_state(member))["balance"]["total"] == 5
