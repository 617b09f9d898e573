"""Who may act on what, through GraphQL: ownership of holds and entries, NOT_FOUND for what is
not the caller's, reserved channel names (issue 12)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.auth.apikeys import create_api_key
from app.auth.permissions import PARTNER_SCOPES
from app.auth.tables import api_keys
from app.clock import FrozenClock
from app.errors import DomainError, ErrorCode
from app.ledger.audit import audit_ledger
from app.members.channels import RESERVED_CHANNELS
from app.seed import seed_earning
from tests.graphql.conftest import Api

PAYLOAD = "{ __typename ... on MutationError { code message field } }"
ALL_SCOPES = sorted(PARTNER_SCOPES)
MISSING_ID = "999999"


def business_day(clock: FrozenClock) -> date:
    return clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date()


async def legacy_partner_key(api: Api, channel: str) -> dict[str, str]:
    """A key stored before channel names were checked (create_api_key now refuses them)."""
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    async with api.runtime.engine.begin() as conn:
        await conn.execute(
            api_keys.insert().values(
                prefix=prefix,
                secret_hash=hashlib.sha256(secret.encode()).hexdigest(),
                partner="mallory",
                channel=channel,
                scopes=ALL_SCOPES,
            )
        )
    return {"X-Api-Key": f"jf_{prefix}_{secret}"}


async def hold(api: Api, member: str, key: str, headers: dict[str, str] | None = None) -> str:
    body = await api.call(
        """mutation($m: ID!, $k: String!) { holdPoints(input: {memberId: $m, amount: 10,
             reason: "basket", idempotencyKey: $k}) { ... on HoldPayload { hold { id } } } }""",
        {"m": member, "k": key},
        headers or api.staff_headers(),
    )
    hold_id: str = body["data"]["holdPoints"]["hold"]["id"]
    return hold_id


async def settle(api: Api, operation: str, ident: str, headers: dict[str, str]) -> dict[str, Any]:
    queries = {
        "commitHold": """mutation($i: ID!) { commitHold(input: {holdId: $i,
                           idempotencyKey: "c1"}) %s }""",
        "voidHold": """mutation($i: ID!) { voidHold(input: {holdId: $i, reason: "x",
                         idempotencyKey: "v1"}) %s }""",
        "reverseEntry": """mutation($i: ID!) { reverseEntry(input: {entryId: $i, reason: "x",
                             idempotencyKey: "r1"}) %s }""",
        "confirmRedemption": "mutation($i: ID!) { confirmRedemption(input: {orderId: $i}) %s }",
        "cancelRedemption": """mutation($i: ID!) { cancelRedemption(input: {orderId: $i,
                                 reason: "x"}) %s }""",
        "commitCheckout": "mutation($i: ID!) { commitCheckout(input: {paymentId: $i}) %s }",
        "voidCheckout": "mutation($i: ID!) { voidCheckout(input: {paymentId: $i}) %s }",
    }
    body = await api.call(queries[operation] % PAYLOAD, {"i": ident}, headers)
    result: dict[str, Any] = body["data"][operation]
    return result


async def audit_is_clean(api: Api) -> None:
    report = await audit_ledger(api.runtime.engine, api.runtime.clock.now())
    assert report.ok, report.render()


# ---------------------------------------------------------------- 1. ownership is structured


async def test_a_partner_channel_named_api_owns_nothing_staff_or_members_created(api: Api) -> None:
    member = await api.register("pos", "m1")  # the partner may act on the member itself
    await api.earn(member, 100, "seed")
    staff_entry = (await api.earn(member, 50, "staff-earn"))["entry"]["id"]
    staff_hold = await hold(api, member, "staff-hold")
    member_hold = await hold(api, member, "member-hold")
    before = await api.ledger_state(member)
    # A key whose channel is "api", as could be created before names were checked: staff and
    # members' writes carry the source "api" too.
    mallory = await legacy_partner_key(api, "api")
    for operation, ident in [
        ("reverseEntry", staff_entry),
        ("commitHold", staff_hold),
        ("voidHold", member_hold),
    ]:
        result = await settle(api, operation, ident, mallory)
        assert result["code"] == "NOT_FOUND", (operation, result)
    assert await api.ledger_state(member) == before
    await audit_is_clean(api)


async def test_a_partner_still_settles_what_its_own_channel_created(api: Api) -> None:
    member = await api.register("pos", "m1")
    await api.earn(member, 100, "seed")
    pos = await api.partner_headers(ALL_SCOPES, "pos")
    entry = (await api.earn(member, 20, "pos-earn", pos))["entry"]["id"]
    placed = await hold(api, member, "pos-hold", pos)
    assert (await settle(api, "commitHold", placed, pos))["__typename"] == "PointsPosted"
    assert (await settle(api, "reverseEntry", entry, pos))["__typename"] == "PointsPosted"
    rows = await api.admin(
        """query($m: ID!) { member(id: $m) { holds(activeOnly: false) { id status source } } }""",
        {"m": member},
    )
    assert rows["member"]["holds"] == [{"id": placed, "status": "COMMITTED", "source": "pos"}]
    await audit_is_clean(api)


@pytest.mark.parametrize("channel", [*sorted(RESERVED_CHANNELS), "API", " api "])
async def test_a_partner_key_cannot_be_created_for_a_reserved_channel(
    api: Api, channel: str
) -> None:
    with pytest.raises(DomainError) as refused:
        async with api.runtime.engine.begin() as conn:
            await create_api_key(conn, "mallory", channel, ALL_SCOPES)
    assert refused.value.code is ErrorCode.INVALID_INPUT
    assert refused.value.field == "channel"
    async with api.runtime.engine.connect() as conn:
        assert (await conn.execute(api_keys.select())).first() is None


async def test_a_member_cannot_be_registered_on_a_reserved_channel(api: Api) -> None:
    body = await api.call(
        f"""mutation {{ registerMember(input: {{channel: "api", externalRef: "x"}})
             {PAYLOAD} }}""",
        None,
        api.staff_headers(),
    )
    assert body["data"]["registerMember"]["code"] == "INVALID_INPUT"
    assert body["data"]["registerMember"]["field"] == "channel"


# ------------------------------------------------- 3. not yours reads exactly as does not exist


def without_id(result: dict[str, Any], ident: str) -> dict[str, Any]:
    return {**result, "message": result["message"].replace(ident, "<id>")}


async def assert_reads_as_missing(
    api: Api, operation: str, theirs: str, headers: dict[str, str]
) -> None:
    not_theirs = await settle(api, operation, theirs, headers)
    missing = await settle(api, operation, MISSING_ID, headers)
    assert missing["code"] == "NOT_FOUND", (operation, missing)
    assert without_id(not_theirs, theirs) == without_id(missing, MISSING_ID), operation


async def order_for(api: Api, member: str) -> str:
    data = await api.admin(
        """mutation { createMallItem(input: {stock: 10, item: {code: "mug", name: "Mug",
             kind: GOODS, pointsPrice: 5}}) { ... on MallItemPayload { item { id } } } }"""
    )
    data = await api.admin(
        """mutation($m: ID!, $i: ID!) { placeRedemption(input: {memberId: $m, itemId: $i,
             idempotencyKey: "o1"}) { ... on RedemptionPayload { redemption { id } } } }""",
        {"m": member, "i": data["createMallItem"]["item"]["id"]},
    )
    order_id: str = data["placeRedemption"]["redemption"]["id"]
    return order_id


async def test_another_members_order_reads_as_missing_to_a_member(api: Api) -> None:
    alice = await api.register("pos", "alice")
    bob = await api.register("pos", "bob")
    await api.earn(alice, 100, "seed")
    order = await order_for(api, alice)
    before = await api.ledger_state(alice)
    for operation in ("confirmRedemption", "cancelRedemption"):
        await assert_reads_as_missing(api, operation, order, api.member_headers(bob))
    assert await api.ledger_state(alice) == before
    await audit_is_clean(api)


async def test_another_channels_holds_entries_payments_read_as_missing_to_a_partner(
    api: Api,
) -> None:
    member = await api.register("pos", "m1")
    await api.admin(
        """mutation($m: ID!) { linkChannelRef(input: {memberId: $m, channel: "web",
             externalRef: "m1"}) { __typename } }""",
        {"m": member},
    )
    await api.earn(member, 100, "seed")
    pos = await api.partner_headers(ALL_SCOPES, "pos")
    web = await api.partner_headers(ALL_SCOPES, "web", "other-shop")
    entry = (await api.earn(member, 20, "pos-earn", pos))["entry"]["id"]
    placed = await hold(api, member, "pos-hold", pos)
    data = await api.admin(
        """mutation($m: ID!) { holdCheckoutPoints(input: {memberId: $m, channel: "pos",
             orderRef: "till-1", amount: "100", points: 10}) {
             ... on CheckoutPaymentPayload { payment { id } } } }""",
        {"m": member},
    )
    payment = data["holdCheckoutPoints"]["payment"]["id"]
    before = await api.ledger_state(member)
    # The web partner may act on the member (it is linked to "web"), not on what "pos" made.
    for operation, ident in [
        ("reverseEntry", entry),
        ("commitHold", placed),
        ("voidHold", placed),
        ("commitCheckout", payment),
        ("voidCheckout", payment),
    ]:
        await assert_reads_as_missing(api, operation, ident, web)
    assert await api.ledger_state(member) == before
    await audit_is_clean(api)


async def test_a_partner_off_the_members_channel_reads_its_orders_as_missing(api: Api) -> None:
    member = await api.register("pos", "m1")
    await api.earn(member, 100, "seed")
    order = await order_for(api, member)
    web = await api.partner_headers(ALL_SCOPES, "web", "other-shop")
    await assert_reads_as_missing(api, "confirmRedemption", order, web)


# ------------------------------------------------------- 4. a closed or frozen member's token


async def set_status(api: Api, member: str, status: str) -> None:
    data = await api.admin(
        """mutation($m: ID!, $s: MemberStatus!) { setMemberStatus(input: {memberId: $m,
             status: $s, reason: "support ticket"}) { __typename } }""",
        {"m": member, "s": status},
    )
    assert data["setMemberStatus"]["__typename"] == "MemberPayload", data


ME = "{ me { id status balance { total } } }"
RENAME = f"""mutation($m: ID!) {{ updateMemberProfile(input: {{memberId: $m, name: "Zed"}})
             {PAYLOAD} }}"""
CREATE_TEAM = f"""mutation($m: ID!) {{ createTeam(input: {{memberId: $m, task: "nope",
                  name: "Zeds"}}) {PAYLOAD} }}"""
CHECK_IN = f"mutation($m: ID!) {{ checkIn(input: {{memberId: $m}}) {PAYLOAD} }}"


async def test_a_closed_members_token_is_refused_for_reads_and_writes(api: Api) -> None:
    member = await api.register("pos", "m1")
    await api.earn(member, 100, "seed")
    token = api.member_headers(member)
    assert (await api.call(ME, None, token))["data"]["me"]["id"] == member
    await set_status(api, member, "CLOSED")
    before = await api.ledger_state(member)
    for query in (ME, RENAME, CREATE_TEAM, CHECK_IN):
        response = await api.post(query, {"m": member}, token)
        assert response.status_code == 401, (query, response.text)
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await api.ledger_state(member) == before
    profile = await api.admin("query($m: ID!) { member(id: $m) { name } }", {"m": member})
    assert profile["member"]["name"] is None


async def test_a_token_for_a_member_that_does_not_exist_is_refused(api: Api) -> None:
    response = await api.post(ME, None, api.member_headers(4242))
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_frozen_member_reads_but_changes_nothing_until_unfrozen(api: Api) -> None:
    member = await api.register("pos", "m1")
    await api.earn(member, 100, "seed")
    token = api.member_headers(member)
    await set_status(api, member, "FROZEN")
    before = await api.ledger_state(member)
    me = (await api.call(ME, None, token))["data"]["me"]
    assert me == {"id": member, "status": "FROZEN", "balance": {"total": 100}}
    for operation, query in [
        ("updateMemberProfile", RENAME),
        ("createTeam", CREATE_TEAM),
        ("checkIn", CHECK_IN),
    ]:
        result = (await api.call(query, {"m": member}, token))["data"][operation]
        assert result["code"] == "MEMBER_NOT_ACTIVE", (operation, result)
    assert await api.ledger_state(member) == before
    await set_status(api, member, "ACTIVE")
    renamed = (await api.call(RENAME, {"m": member}, token))["data"]["updateMemberProfile"]
    assert renamed["__typename"] == "MemberPayload", renamed


# --------------------------------------------------- 2. profile facts that feed earning rules

BIRTHDAY = f"""mutation($m: ID!, $b: Date!) {{ updateMemberProfile(input: {{memberId: $m,
               birthday: $b}}) {PAYLOAD} }}"""
TAGS = f"""mutation($m: ID!) {{ updateMemberProfile(input: {{memberId: $m, tags: ["vip"]}})
           {PAYLOAD} }}"""
BUY = """mutation($m: ID!, $o: String!) { recordPurchase(input: {memberId: $m, channel: "pos",
           orderId: $o, lines: [{sku: "rice", category: "grocery", quantity: 1,
           amount: "100"}]}) { ... on PurchaseRecorded { purchase { points
           breakdown { rules { name points } } } } } }"""


async def birthday_points(api: Api, member: str, order: str) -> int:
    data = await api.admin(BUY, {"m": member, "o": order})
    rules = data["recordPurchase"]["purchase"]["breakdown"]["rules"]
    return sum(r["points"] for r in rules if "birthday" in r["name"])


async def test_a_member_cannot_mint_points_by_editing_its_birthday(
    api: Api, clock: FrozenClock
) -> None:
    await seed_earning(api.runtime)
    member = await api.register("pos", "m1")
    token = api.member_headers(member)
    today = business_day(clock)
    # Given today: set once by the member, but it pays nothing today.
    given = (await api.call(BIRTHDAY, {"m": member, "b": today.isoformat()}, token))["data"]
    assert given["updateMemberProfile"]["__typename"] == "MemberPayload", given
    assert await birthday_points(api, member, "o1") == 0
    # The next day it is no longer the birthday, and the member may not move it there.
    clock.advance(timedelta(days=1))
    moved = await api.call(BIRTHDAY, {"m": member, "b": business_day(clock).isoformat()}, token)
    assert moved["data"]["updateMemberProfile"]["code"] == "FORBIDDEN"
    assert moved["data"]["updateMemberProfile"]["field"] == "birthday"
    assert await birthday_points(api, member, "o2") == 0
    # Giving the same date again is a harmless retry.
    again = await api.call(BIRTHDAY, {"m": member, "b": today.isoformat()}, token)
    assert again["data"]["updateMemberProfile"]["__typename"] == "MemberPayload"
    # A year on, the birthday that was on file pays, once a day as the rule says.
    clock.set(clock.now().replace(year=clock.now().year + 1) - timedelta(days=1))
    assert await birthday_points(api, member, "o3") == 100
    await audit_is_clean(api)


async def test_staff_change_a_birthday_and_it_pays_from_the_next_day(
    api: Api, clock: FrozenClock
) -> None:
    await seed_earning(api.runtime)
    member = await api.register("pos", "m1")
    await api.call(BIRTHDAY, {"m": member, "b": "1990-01-01"}, api.member_headers(member))
    staff = await api.call(
        BIRTHDAY, {"m": member, "b": business_day(clock).isoformat()}, api.staff_headers()
    )
    assert staff["data"]["updateMemberProfile"]["__typename"] == "MemberPayload"
    assert await birthday_points(api, member, "o1") == 0  # changed today: not today


async def test_a_partner_sets_a_birthday_once_and_a_member_sets_no_tags(api: Api) -> None:
    member = await api.register("pos", "m1")
    pos = await api.partner_headers(["members:write"], "pos")
    first = await api.call(BIRTHDAY, {"m": member, "b": "1990-01-01"}, pos)
    assert first["data"]["updateMemberProfile"]["__typename"] == "MemberPayload"
    second = await api.call(BIRTHDAY, {"m": member, "b": "1991-01-01"}, pos)
    assert second["data"]["updateMemberProfile"]["code"] == "FORBIDDEN"
    tags = await api.call(TAGS, {"m": member}, api.member_headers(member))
    assert tags["data"]["updateMemberProfile"]["code"] == "FORBIDDEN"
    assert (await api.call(TAGS, {"m": member}, pos))["data"]["updateMemberProfile"][
        "__typename"
    ] == "MemberPayload"
    data = await api.admin("query($m: ID!) { member(id: $m) { birthday tags } }", {"m": member})
    assert data["member"] == {"birthday": "1990-01-01", "tags": ["vip"]}
