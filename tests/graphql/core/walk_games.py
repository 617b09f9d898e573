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
from tests.graphql.core.walk_engagement import TASK

if TYPE_CHECKING:
    from tests.graphql.core.test_permissions import World

PAYLOAD = "{ __typename ... on MutationError { code message } }"
# Programme-wide: an auction is anyone's to watch (like `tiers`); its leader's name is masked.
PROGRAMME_WIDE = frozenset(
    {
        "auctions",
        "auction",
        "liveAuction",
        "campaigns",
        "campaign",
        "liveCampaign",
        "duelRules",
        "quests",
    }
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
    return await duel_request_for(operation, world, key)


DUEL_RULES = """{code: "walk-pk", name: "walk", metrics: [POINTS], maxStake: 10}"""


def live_duel(duel_id: str) -> str:
    return f"""subscription($m: ID!) {{ liveDuel(memberId: $m, id: "{duel_id}") {{
        status challengerScore opponentScore }} }}"""


async def make_walk_duel(api: Api, challenger: str, opponent: str) -> str:
    """A pending duel: ``challenger`` (through staff) challenged ``opponent``, no stake."""
    await api.admin(f"mutation {{ saveDuelRules(input: {DUEL_RULES}) {PAYLOAD} }}")
    data = await api.admin(
        """mutation($a: ID!, $b: ID!, $k: String!) { challengeDuel(input: {memberId: $a,
             opponentId: $b, rules: "walk-pk", metric: POINTS, hours: 1,
             idempotencyKey: $k}) { ... on DuelPayload { duel { id } } } }""",
        {"a": challenger, "b": opponent, "k": fresh("duel")},
    )
    duel_id: str = data["challengeDuel"]["duel"]["id"]
    return duel_id


async def duel_request_for(
    operation: str, world: World, key: str
) -> tuple[str, dict[str, Any]] | None:
    a, b = world.member_a, world.member_b
    if operation == "duelRules":
        return "{ duelRules { code metrics } }", {}
    if operation == "saveDuelRules":
        return f"mutation {{ saveDuelRules(input: {DUEL_RULES}) {PAYLOAD} }}", {}
    if operation == "duels":
        return "query($m: ID!) { duels(memberId: $m) { id status challengerScore } }", {"m": a}
    if operation == "challengeDuel":
        await make_walk_duel(world.api, b, a)  # the rules exist
        return (
            f"""mutation($a: ID!, $b: ID!, $k: String!) {{ challengeDuel(input: {{memberId: $a,
                 opponentId: $b, rules: "walk-pk", metric: POINTS, stake: 1, hours: 1,
                 idempotencyKey: $k}}) {PAYLOAD} }}""",
            {"a": a, "b": b, "k": key},
        )
    if operation == "quests":
        return "{ quests { code levels { position task rewardPoints } } }", {}
    if operation == "createQuest":
        return (
            f"""mutation($i: CreateQuestInput!) {{ createQuest(input: $i) {PAYLOAD} }}""",
            {"i": await quest_input(world.api)},
        )
    if operation == "questProgress":
        return (
            """query($m: ID!) { questProgress(memberId: $m) { finished currentProgress
                 currentLevel { task } } }""",
            {"m": a},
        )
    if operation in {"acceptDuel", "declineDuel"}:
        return (
            f"""mutation($m: ID!, $d: ID!, $k: String!) {{ {operation}(input: {{memberId: $m,
                 duelId: $d, idempotencyKey: $k}}) {PAYLOAD} }}""",
            {"m": a, "d": await make_walk_duel(world.api, b, a), "k": key},
        )
    return None


def live_quest(quest_id: str) -> str:
    return f"""subscription($m: ID!) {{ liveQuest(memberId: $m, id: "{quest_id}") {{
        finished completed }} }}"""


async def quest_input(api: Api) -> dict[str, Any]:
    """A one-level quest of a fresh manual task."""
    task = fresh("task")
    await api.admin(
        f"""mutation {{ createTask(input: {{code: "{task}", task: {TASK}}}) {PAYLOAD} }}"""
    )
    now = api.runtime.clock.now()
    return {
        "code": fresh("quest"),
        "name": "walk",
        "startsAt": (now - timedelta(hours=1)).isoformat(),
        "levels": [{"task": task, "rewardPoints": 1}],
    }


async def make_walk_quest(api: Api) -> str:
    data = await api.admin(
        """mutation($i: CreateQuestInput!) { createQuest(input: $i) {
             ... on QuestPayload { quest { id } } } }""",
        {"i": await quest_input(api)},
    )
    quest_id: str = data["createQuest"]["quest"]["id"]
    return quest_id
