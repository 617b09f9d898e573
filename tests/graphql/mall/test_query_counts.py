"""The mall's lists read in a fixed number of statements, however long the page: a member's
offers for a whole catalogue page included."""

from __future__ import annotations

from app.seed import seed_mall
from tests.graphql.conftest import Api
from tests.graphql.statements import assert_same_statements, statements_of

ITEMS = """query($m: ID, $n: Int!) { mallItems(first: $n, filter: {forMemberId: $m}) {
  edges { cursor node { id code currentPointsPrice
    offer { unitPoints allowed affordable refusal } } } pageInfo { hasNextPage } } }"""
ITEM_ID = """query { mallItems(filter: {codes: ["coupon-5cny"]}) { edges { node { id } } } }"""
PLACE = """mutation($m: ID!, $i: ID!, $k: String!) { placeRedemption(input: {memberId: $m,
  itemId: $i, idempotencyKey: $k}) { __typename } }"""
ORDERS = """query($m: ID!, $n: Int!) { redemptions(memberId: $m, first: $n) {
  edges { cursor node { id status points } } pageInfo { hasNextPage } } }"""
DRAW = """mutation($m: ID!, $k: String!) { drawLottery(input: {memberId: $m,
  poolCode: "daily-wheel", idempotencyKey: $k}) { __typename } }"""
TICKET = """mutation($m: ID!, $s: String!) { grantDrawTicket(input: {memberId: $m,
  poolCode: "daily-wheel", sourceRef: $s}) { __typename } }"""
DRAWS = """query($m: ID!) { lotteryDraws(memberId: $m, first: 10) { id prizeCode odds }
  drawTickets(memberId: $m, openOnly: false) { id status } }"""
CHARITIES = "query { charities { code totalDonated donors } }"
CHARITY = """mutation($c: String!) { createCharity(input: {code: $c, name: $c}) { __typename } }"""


async def test_a_catalogue_page_with_offers_takes_the_same_statements_for_three_items_or_six(
    api: Api,
) -> None:
    # Both pages hold items with a per-member limit (free-delivery from the third on), whose
    # redeemed units the offers count.
    await seed_mall(api.runtime)
    member = await api.register("app", "shopper")
    await api.earn(member, 5_000, "top-up")
    await assert_same_statements(
        api, ITEMS, {"m": member, "n": 3}, {"m": member, "n": 6}, api.member_headers(member)
    )


async def test_a_page_of_orders_takes_the_same_statements_for_one_or_three(api: Api) -> None:
    await seed_mall(api.runtime)
    member = await api.register("app", "orders")
    await api.earn(member, 5_000, "top-up")
    item = (await api.admin(ITEM_ID))["mallItems"]["edges"][0]["node"]["id"]
    for n in range(3):
        await api.admin(PLACE, {"m": member, "i": item, "k": f"order-{n}"})
    await assert_same_statements(
        api, ORDERS, {"m": member, "n": 1}, {"m": member, "n": 3}, api.staff_headers("analyst")
    )


async def test_draws_and_tickets_take_the_same_statements_for_one_or_three(api: Api) -> None:
    await seed_mall(api.runtime)
    few = await api.register("app", "few")
    many = await api.register("app", "many")
    for member, times in ((few, 1), (many, 3)):
        await api.earn(member, 1_000, f"top-up-{member}")
        for n in range(times):
            await api.admin(DRAW, {"m": member, "k": f"draw-{n}"})
            await api.admin(TICKET, {"m": member, "s": f"ticket-{n}"})
    await assert_same_statements(api, DRAWS, {"m": few}, {"m": many}, api.staff_headers("analyst"))


async def test_the_charities_take_the_same_statements_for_one_or_four(api: Api) -> None:
    await seed_mall(api.runtime)
    headers = api.staff_headers("analyst")
    one = await statements_of(api, CHARITIES, {}, headers)
    for n in range(3):
        await api.admin(CHARITY, {"c": f"charity-{n}"})
    four = await statements_of(api, CHARITIES, {}, headers)
    assert len(four) == len(one), "\n\n".join(four)
