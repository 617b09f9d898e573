"""The permission walk's requests for the games' operations (core/test_permissions.py, and the
subscription walk in tests/events/test_subscriptions.py).

Each builder makes what the operation acts on (an item and its auction) as staff, then returns
a valid call of the operation on member A.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from tests.graphql.conftest import Api

if TYPE_CHECKING:
    from tests.graphql.core.test_permissions import World

PAYLOAD = "{ __typename ... on MutationError { code message } }"
# Programme-wide: an auction is anyone's to watch (like `tiers`); its leader's name is masked.
PROGRAMME_WIDE = frozenset(
    {"auctions", "auction", "liveAuction", "campaigns", "campaign", "liveCampaign"}
)
LIVE_AUCTION = "subscription($m: ID!) { liveAuction(id: $m) { code leadingBid } }"
LIVE_CAMPAIGN = "subscription($m: ID!) { liveCampaign(id: $m) { code pledged } }"
_counter = itertools.count()


def fresh(prefix: str) -> str:
    return f"games-{prefix}-{next(_counter)}"


def auction_input(api: Api, item_id: str) -> dict[str, Any]:
    now = api.runtime.clock.now()
    return {
        "code": fresh("auction"),
        "name": "walk",
        "itemId": item_id,
        "startsAt": (now - timedelta(hours=1)).isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
        "startingPrice": 1,
        "minIncrement": 1,
    }


async def make_item(api: Api) -> str:
    data = await api.admin(
        """mutation($c: String!) { createMallItem(input: {stock: 5, item: {code: $c,
             name: "walk", kind: GOODS, pointsPrice: 1}}) {
             ... on MallItemPayload { item { id } } } }""",
        {"c": fresh("item")},
    )
    item_id: str = data["createMallItem"]["item"]["id"]
    return item_id


async def make_walk_auction(api_of: Any) -> str:
    """An open auction (``api_of``: an Api, or anything with one as ``.api``)."""
    api: Api = api_of if isinstance(api_of, Api) else api_of.api
    data = await api.admin(
        """mutation($i: CreateAuctionInput!) { createAuction(input: $i) {
             ... on AuctionPayload { auction { id } } } }""",
        {"i": auction_input(api, await make_item(api))},
    )
    auction_id: str = data["createAuction"]["auction"]["id"]
    return auction_id


async def make_walk_campaign(api_of: Any) -> str:
    """An open campaign (``api_of``: an Api, or anything with one as ``.api``)."""
    api: Api = api_of if isinstance(api_of, Api) else api_of.api
    data = await api.admin(
        """mutation($i: CreateCampaignInput!) { createCampaign(input: $i) {
             ... on CampaignPayload { campaign { id } } } }""",
        {"i": campaign_input(api)},
    )
    campaign_id: str = data["createCampaign"]["campaign"]["id"]
    return campaign_id


def campaign_input(api: Api) -> dict[str, Any]:
    now = api.runtime.clock.now()
    return {
        "code": fresh("campaign"),
        "name": "walk",
        "goal": 100,
        "startsAt": (now - timedelta(hours=1)).isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
    }


async def make_pledge(world: World) -> str:
    """A campaign where member A (through staff) pledged a point."""
    campaign = await make_walk_campaign(world.api)
    await world.api.admin(
        f"""mutation($m: ID!, $c: ID!, $k: String!) {{ pledgePoints(input: {{memberId: $m,
             campaignId: $c, amount: 1, idempotencyKey: $k}}) {PAYLOAD} }}""",
        {"m": world.member_a, "c": campaign, "k": fresh("pledge")},
    )
    return campaign


async def games_request_for(
    operation: str, world: World, key: str
) -> tuple[str, dict[str, Any]] | None:
    a = world.member_a
    if operation == "auctions":
        return "{ auctions(openOnly: false) { id leaderName } }", {}
    if operation == "auction":
        return "query($i: ID!) { auction(id: $i) { code } }", {
            "i": await make_walk_auction(world.api)
        }
    if operation == "auctionBids":
        return "query($m: ID!) { auctionBids(memberId: $m) { id status } }", {"m": a}
    if operation == "createAuction":
        return (
            f"mutation($i: CreateAuctionInput!) {{ createAuction(input: $i) {PAYLOAD} }}",
            {"i": auction_input(world.api, await make_item(world.api))},
        )
    if operation == "placeBid":
        return (
            f"""mutation($m: ID!, $a: ID!, $k: String!) {{ placeBid(input: {{memberId: $m,
                 auctionId: $a, amount: 1, idempotencyKey: $k}}) {PAYLOAD} }}""",
            {"m": a, "a": await make_walk_auction(world.api), "k": key},
        )
    if operation == "campaigns":
        return "{ campaigns(openOnly: false) { id progress } }", {}
    if operation == "campaign":
        return "query($i: ID!) { campaign(id: $i) { code } }", {
            "i": await make_walk_campaign(world.api)
        }
    if operation == "campaignPledges":
        return "query($m: ID!) { campaignPledges(memberId: $m) { id status } }", {"m": a}
    if operation == "createCampaign":
        return (
            f"mutation($i: CreateCampaignInput!) {{ createCampaign(input: $i) {PAYLOAD} }}",
            {"i": campaign_input(world.api)},
        )
    if operation == "pledgePoints":
        return (
            f"""mutation($m: ID!, $c: ID!, $k: String!) {{ pledgePoints(input: {{memberId: $m,
                 campaignId: $c, amount: 1, idempotencyKey: $k}}) {PAYLOAD} }}""",
            {"m": a, "c": await make_walk_campaign(world.api), "k": key},
        )
    if operation == "withdrawPledge":
        return (
            f"""mutation($m: ID!, $c: ID!, $k: String!) {{ withdrawPledge(input: {{memberId: $m,
                 campaignId: $c, idempotencyKey: $k}}) {PAYLOAD} }}""",
            {"m": a, "c": await make_pledge(world), "k": key},
        )
    return None
