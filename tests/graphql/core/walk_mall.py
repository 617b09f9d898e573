"""The permission walk's requests for the mall's operations (core/test_permissions.py).

Each builder makes what the operation acts on (an item, an order, a pool, a payment) as staff,
for member A, then returns a valid call of the operation.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.graphql.core.test_permissions import World

PAYLOAD = "{ __typename ... on MutationError { code message } }"
# Programme-wide reads: no particular member or channel (like `tiers`).
PROGRAMME_WIDE = frozenset({"mallItems", "lotteryPool", "charities"})
_counter = itertools.count()


def fresh(prefix: str) -> str:
    return f"mall-{prefix}-{next(_counter)}"


async def make_item(world: World, cash: str = "0") -> str:
    data = await world.api.admin(
        """mutation($c: String!, $cash: Decimal!) { createMallItem(input: {stock: 100, item: {
             code: $c, name: "walk", kind: GOODS, pointsPrice: 1, cashPrice: $cash}}) {
             ... on MallItemPayload { item { id } } } }""",
        {"c": fresh("item"), "cash": cash},
    )
    item_id: str = data["createMallItem"]["item"]["id"]
    return item_id


async def make_order(world: World, cash: str = "0", confirmed: bool = False) -> str:
    data = await world.api.admin(
        """mutation($m: ID!, $i: ID!, $k: String!) { placeRedemption(input: {memberId: $m,
             itemId: $i, idempotencyKey: $k}) {
             ... on RedemptionPayload { redemption { id } } } }""",
        {"m": world.member_a, "i": await make_item(world, cash), "k": fresh("place")},
    )
    order_id: str = data["placeRedemption"]["redemption"]["id"]
    if confirmed:
        await world.api.admin(
            f"mutation($o: ID!) {{ confirmRedemption(input: {{orderId: $o}}) {PAYLOAD} }}",
            {"o": order_id},
        )
    return order_id


async def make_pool(world: World) -> str:
    code = fresh("pool")
    await world.api.admin(
        """mutation($c: String!) { createLotteryPool(input: {code: $c, name: "walk", kind: WHEEL,
             costPoints: 1, prizes: [{code: "none", name: "none", kind: NOTHING, weight: 1}]}) {
             __typename } }""",
        {"c": code},
    )
    return code


async def make_charity(world: World) -> str:
    code = fresh("charity")
    await world.api.admin(
        'mutation($c: String!) { createCharity(input: {code: $c, name: "walk"}) { __typename } }',
        {"c": code},
    )
    return code


async def make_payment(world: World) -> str:
    data = await world.api.admin(
        """mutation($m: ID!, $o: String!) { holdCheckoutPoints(input: {memberId: $m,
             channel: "pos", orderRef: $o, amount: "100", points: 10}) {
             ... on CheckoutPaymentPayload { payment { id } } } }""",
        {"m": world.member_a, "o": fresh("till")},
    )
    payment_id: str = data["holdCheckoutPoints"]["payment"]["id"]
    return payment_id


ITEM = '{code: "%s", name: "walk", kind: GOODS, pointsPrice: 1}'


async def mall_request_for(
    operation: str, world: World, key: str
) -> tuple[str, dict[str, Any]] | None:
    a = world.member_a
    simple: dict[str, tuple[str, dict[str, Any]]] = {
        "mallItems": ("{ mallItems(first: 5) { edges { node { id } } } }", {}),
        "redemptions": (
            "query($m: ID!) { redemptions(memberId: $m) { edges { node { id } } } }",
            {"m": a},
        ),
        "mallOrders": ("{ mallOrders(first: 5) { edges { node { id } } } }", {}),
        "lotteryDraws": ("query($m: ID!) { lotteryDraws(memberId: $m) { id } }", {"m": a}),
        "drawTickets": ("query($m: ID!) { drawTickets(memberId: $m) { id } }", {"m": a}),
        "charities": ("{ charities { code totalDonated } }", {}),
        "checkoutQuote": (
            """query($m: ID!) { checkoutQuote(input: {memberId: $m, channel: "pos",
                 amount: "100"}) { maxPoints } }""",
            {"m": a},
        ),
        "redemptionQuote": (
            """query($m: ID!, $i: ID!) { redemptionQuote(input: {memberId: $m, itemId: $i}) {
                 points } }""",
            {"m": a, "i": await make_item(world)},
        ),
        "createMallItem": (
            f"mutation {{ createMallItem(input: {{item: {ITEM % fresh('c')}}}) {PAYLOAD} }}",
            {},
        ),
        "createCharity": (
            f'mutation {{ createCharity(input: {{code: "{fresh("ch")}", name: "x"}}) {PAYLOAD} }}',
            {},
        ),
        "createLotteryPool": (
            f"""mutation {{ createLotteryPool(input: {{code: "{fresh("lp")}", name: "x",
                 kind: LOTTERY, costPoints: 1, prizes: [{{code: "n", name: "n", kind: NOTHING,
                 weight: 1}}]}}) {PAYLOAD} }}""",
            {},
        ),
        "holdCheckoutPoints": (
            f"""mutation($m: ID!, $o: String!) {{ holdCheckoutPoints(input: {{memberId: $m,
                 channel: "pos", orderRef: $o, amount: "100", points: 10}}) {PAYLOAD} }}""",
            {"m": a, "o": key},
        ),
    }
    if operation in simple:
        return simple[operation]
    if operation == "lotteryPool":
        return "query($c: String!) { lotteryPool(code: $c) { code } }", {
            "c": await make_pool(world)
        }
    if operation == "updateMallItem":
        return (
            f"""mutation($i: ID!) {{ updateMallItem(input: {{id: $i, item: {ITEM % "x"}}})
                 {PAYLOAD} }}""",
            {"i": await make_item(world)},
        )
    if operation == "addCouponCodes":
        return (
            f"""mutation($i: ID!, $c: String!) {{ addCouponCodes(input: {{itemId: $i,
                 codes: [$c]}}) {PAYLOAD} }}""",
            {"i": await make_item(world), "c": key},
        )
    if operation == "placeRedemption":
        return (
            f"""mutation($m: ID!, $i: ID!, $k: String!) {{ placeRedemption(input: {{memberId: $m,
                 itemId: $i, idempotencyKey: $k}}) {PAYLOAD} }}""",
            {"m": a, "i": await make_item(world), "k": key},
        )
    if operation in {"confirmRedemption"}:
        order = await make_order(world)
        return (
            f"mutation($o: ID!) {{ {operation}(input: {{orderId: $o}}) {PAYLOAD} }}",
            {"o": order},
        )
    if operation == "fulfilRedemption":
        order = await make_order(world, confirmed=True)
        return (
            f"mutation($o: ID!) {{ fulfilRedemption(input: {{orderId: $o}}) {PAYLOAD} }}",
            {"o": order},
        )
    if operation in {"cancelRedemption", "returnRedemption"}:
        order = await make_order(world, confirmed=operation == "returnRedemption")
        return (
            f"""mutation($o: ID!) {{ {operation}(input: {{orderId: $o, reason: "walk"}})
                 {PAYLOAD} }}""",
            {"o": order},
        )
    if operation == "payRedemption":
        return (
            f"""mutation($o: ID!, $p: String!) {{ payRedemption(input: {{orderId: $o,
                 paymentRef: $p, amount: "1.00"}}) {PAYLOAD} }}""",
            {"o": await make_order(world, cash="1.00"), "p": key},
        )
    if operation in {"commitCheckout", "voidCheckout"}:
        return (
            f"mutation($p: ID!) {{ {operation}(input: {{paymentId: $p}}) {PAYLOAD} }}",
            {"p": await make_payment(world)},
        )
    if operation == "drawLottery":
        return (
            f"""mutation($m: ID!, $c: String!, $k: String!) {{ drawLottery(input: {{memberId: $m,
                 poolCode: $c, idempotencyKey: $k}}) {PAYLOAD} }}""",
            {"m": a, "c": await make_pool(world), "k": key},
        )
    if operation == "grantDrawTicket":
        return (
            f"""mutation($m: ID!, $c: String!, $r: String!) {{ grantDrawTicket(input: {{
                 memberId: $m, poolCode: $c, sourceRef: $r}}) {PAYLOAD} }}""",
            {"m": a, "c": await make_pool(world), "r": key},
        )
    if operation == "donatePoints":
        return (
            f"""mutation($m: ID!, $c: String!, $k: String!) {{ donatePoints(input: {{
                 memberId: $m, charityCode: $c, points: 1, idempotencyKey: $k}}) {PAYLOAD} }}""",
            {"m": a, "c": await make_charity(world), "k": key},
        )
    return None
