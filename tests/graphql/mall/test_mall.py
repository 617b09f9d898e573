"""The points mall through the API: the demo catalogue end to end, offers, and refusals."""

from __future__ import annotations

from typing import Any

from app.ledger.audit import audit_ledger
from app.seed import seed_mall
from tests.graphql.conftest import Api

ERR = "... on MutationError { code message field }"
ORDER = f"""__typename ... on RedemptionPayload {{ replayed
  redemption {{ id status points cashAmount couponCodes paidAmount }}
  balance {{ available held total }} }} {ERR}"""

PLACE = f"""mutation($m: ID!, $i: ID!, $k: String!, $q: Int! = 1) {{
  placeRedemption(input: {{memberId: $m, itemId: $i, idempotencyKey: $k, quantity: $q}})
  {{ {ORDER} }} }}"""
CONFIRM = f"mutation($o: ID!) {{ confirmRedemption(input: {{orderId: $o}}) {{ {ORDER} }} }}"
PAY = f"""mutation($o: ID!, $p: String!, $a: Decimal!) {{
  payRedemption(input: {{orderId: $o, paymentRef: $p, amount: $a}}) {{ {ORDER} }} }}"""
FULFIL = f"""mutation($o: ID!) {{ fulfilRedemption(input: {{orderId: $o, reference: "SF1"}})
  {{ {ORDER} }} }}"""
ITEMS = """query($m: ID, $after: String) { mallItems(first: 4, after: $after,
  filter: {forMemberId: $m}) { pageInfo { hasNextPage endCursor }
  edges { node { id code pointsPrice cashPrice stockLeft
    offer { unitPoints allowed affordable refusal } } } } }"""


async def catalogue(api: Api, member: str) -> dict[str, dict[str, Any]]:
    """Every item by code, paging through the connection as a member."""
    items: dict[str, dict[str, Any]] = {}
    after = None
    while True:
        body = await api.call(ITEMS, {"m": member, "after": after}, api.member_headers(member))
        assert "errors" not in body, body
        page = body["data"]["mallItems"]
        items.update({e["node"]["code"]: e["node"] for e in page["edges"]})
        if not page["pageInfo"]["hasNextPage"]:
            return items
        after = page["pageInfo"]["endCursor"]


async def test_each_demo_item_is_redeemable_end_to_end(api: Api) -> None:
    await seed_mall(api.runtime)
    member = await api.register("app", "shopper")
    await api.earn(member, 5_200, "top-up")
    me = api.member_headers(member)
    items = await catalogue(api, member)
    assert {
        "coupon-5cny",
        "goods-20cny",
        "free-delivery",
        "limited-gift",
        "eggs-10",
        "parking-1h",
        "coffee-voucher",
    } <= set(items)
    assert all(i["offer"]["allowed"] and i["offer"]["affordable"] for i in items.values())
    spent = 0
    for code, item in items.items():
        body = await api.call(PLACE, {"m": member, "i": item["id"], "k": f"buy-{code}"}, me)
        placed = body["data"]["placeRedemption"]
        assert placed["__typename"] == "RedemptionPayload", (code, placed)
        order = placed["redemption"]
        assert order["status"] == "PLACED" and placed["balance"]["held"] == item["pointsPrice"]
        if item["cashPrice"] != "0.00":
            till = api.staff_headers("operator")
            pay = {"o": order["id"], "p": f"wx-{code}", "a": item["cashPrice"]}
            done = (await api.call(PAY, pay, till))["data"]["payRedemption"]
        else:
            done = (await api.call(CONFIRM, {"o": order["id"]}, me))["data"]["confirmRedemption"]
        assert done["__typename"] == "RedemptionPayload", (code, done)
        if done["redemption"]["status"] == "CONFIRMED":  # shipped goods: staff hand them over
            done = (await api.call(FULFIL, {"o": order["id"]}, api.staff_headers()))["data"][
                "fulfilRedemption"
            ]
        assert done["redemption"]["status"] == "FULFILLED", (code, done)
        coupon = code in ("coupon-5cny", "parking-1h", "coffee-voucher")
        assert bool(done["redemption"]["couponCodes"]) == coupon, (code, done)
        spent += item["pointsPrice"]
        assert done["balance"] == {"available": 5_200 - spent, "held": 0, "total": 5_200 - spent}
    after = await catalogue(api, member)
    assert after["limited-gift"]["offer"]["refusal"] == "LIMIT_REACHED"
    assert after["limited-gift"]["stockLeft"] == 99
    report = await audit_ledger(api.runtime.engine, api.runtime.clock.now())
    assert report.ok, report.render()


async def test_bad_input_is_refused_clearly_and_changes_nothing(api: Api) -> None:
    await seed_mall(api.runtime)
    owner = await api.register("app", "owner")
    thief = await api.register("app", "thief")
    await api.earn(owner, 300, "o")
    await api.earn(thief, 300, "t")
    items = await catalogue(api, owner)
    me = api.member_headers(owner)

    async def refused(query: str, variables: dict[str, Any], headers: dict[str, str]) -> str:
        before = [
            await api.ledger_state(owner),
            await api.ledger_state(thief),
            await catalogue(api, owner),
        ]
        body = await api.call(query, variables, headers)
        payload = next(iter(body["data"].values()))
        assert payload["__typename"] == "MutationError", payload
        after = [
            await api.ledger_state(owner),
            await api.ledger_state(thief),
            await catalogue(api, owner),
        ]
        assert after == before
        code: str = payload["code"]
        return code

    place = {"m": owner, "k": "bad"}
    assert await refused(PLACE, {**place, "i": items["limited-gift"]["id"]}, me) == (
        "INSUFFICIENT_POINTS"
    )
    assert await refused(PLACE, {**place, "i": items["eggs-10"]["id"], "q": 2}, me) == (
        "LIMIT_REACHED"
    )
    assert await refused(PLACE, {**place, "i": items["eggs-10"]["id"], "q": -1}, me) == (
        "INVALID_INPUT"
    )
    eggs = (await api.call(PLACE, {**place, "i": items["eggs-10"]["id"], "k": "ok"}, me))["data"]
    order = eggs["placeRedemption"]["redemption"]["id"]
    assert await refused(CONFIRM, {"o": order}, me) == "PAYMENT_REQUIRED"
    # Another member's order reads as one that does not exist (issue 12).
    assert await refused(CONFIRM, {"o": order}, api.member_headers(thief)) == "NOT_FOUND"
    till = api.staff_headers("operator")
    paid = await api.call(PAY, {"o": order, "p": "wx-1", "a": "1.00"}, till)
    assert paid["data"]["payRedemption"]["redemption"]["status"] == "FULFILLED"
    assert await refused(PAY, {"o": order, "p": "wx-2", "a": "1.00"}, till) == "ALREADY_PAID"
    report = await audit_ledger(api.runtime.engine, api.runtime.clock.now())
    assert report.ok, report.render()
