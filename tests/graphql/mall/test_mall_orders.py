"""``mallOrders``: every member's redemption orders for the console, newest first, by state; staff
only (a member or a partner key is refused and sees no order)."""

from __future__ import annotations

from typing import Any

from app.seed import seed_mall
from tests.graphql.conftest import Api
from tests.graphql.statements import assert_same_statements

ITEM_ID = """query { mallItems(filter: {codes: ["coupon-5cny"]}) { edges { node { id } } } }"""
PLACE = """mutation($m: ID!, $i: ID!, $k: String!) { placeRedemption(input: {memberId: $m,
  itemId: $i, idempotencyKey: $k}) { ... on RedemptionPayload { redemption { id } } } }"""
CANCEL = """mutation($i: ID!) { cancelRedemption(input: {orderId: $i, reason: "changed mind"}) {
  __typename } }"""
ORDERS = """query($n: Int!, $after: String, $s: RedemptionStatus) {
  mallOrders(first: $n, after: $after, status: $s) {
    edges { cursor node { id memberId status } } pageInfo { hasNextPage endCursor } } }"""


async def place_orders(api: Api) -> tuple[list[str], list[str]]:
    """Two members' orders, alternating; returns the members and the order ids in placing order."""
    await seed_mall(api.runtime)
    item = (await api.admin(ITEM_ID))["mallItems"]["edges"][0]["node"]["id"]
    members = [await api.register("app", f"buyer-{n}") for n in range(2)]
    orders = []
    for n in range(4):
        member = members[n % 2]
        await api.earn(member, 1_000, f"top-up-{n}")
        placed = await api.admin(PLACE, {"m": member, "i": item, "k": f"order-{n}"})
        orders.append(placed["placeRedemption"]["redemption"]["id"])
    return members, orders


def nodes(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [edge["node"] for edge in data["mallOrders"]["edges"]]


async def test_staff_see_every_members_orders_newest_first_by_state_and_page(api: Api) -> None:
    members, orders = await place_orders(api)
    await api.admin(CANCEL, {"i": orders[1]})
    analyst = api.staff_headers("analyst")

    body = await api.call(ORDERS, {"n": 10}, analyst)
    assert "errors" not in body, body
    listed = nodes(body["data"])
    assert [o["id"] for o in listed] == list(reversed(orders))
    assert {o["memberId"] for o in listed} == set(members)

    cancelled = nodes((await api.call(ORDERS, {"n": 10, "s": "CANCELLED"}, analyst))["data"])
    assert [(o["id"], o["status"]) for o in cancelled] == [(orders[1], "CANCELLED")]

    first = (await api.call(ORDERS, {"n": 3}, analyst))["data"]
    assert first["mallOrders"]["pageInfo"]["hasNextPage"] is True
    after = first["mallOrders"]["pageInfo"]["endCursor"]
    rest = (await api.call(ORDERS, {"n": 3, "after": after}, analyst))["data"]
    assert [o["id"] for o in nodes(rest)] == [orders[0]]
    assert rest["mallOrders"]["pageInfo"]["hasNextPage"] is False


async def test_a_member_or_partner_is_refused_and_sees_no_order(api: Api) -> None:
    members, _ = await place_orders(api)
    partner = await api.partner_headers(["members:read", "points:spend"], channel="app")
    for headers in (api.member_headers(members[0]), partner):
        body = await api.call(ORDERS, {"n": 10}, headers)
        assert body["data"] is None, body
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_page_of_every_members_orders_takes_the_same_statements_for_one_or_three(
    api: Api,
) -> None:
    await place_orders(api)
    await assert_same_statements(api, ORDERS, {"n": 1}, {"n": 3}, api.staff_headers("analyst"))
