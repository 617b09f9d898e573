"""Games, live, across replicas: two app instances on one database and one Redis; a watcher on
one sees the bids and pledges placed through the other, and the outbid member is told."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from app.clock import FrozenClock
from app.config import Settings
from app.ledger import usecases as ledger
from tests.events.conftest import LiveApp, serve_app
from tests.graphql.core.walk_games import make_walk_auction, make_walk_campaign, make_walk_duel
from tests.wsclient import MEMBER_EVENTS, graphql_ws

LIVE = """subscription($a: ID!) { liveAuction(id: $a) {
  leadingBid leaderName minimumBid bidders bids endsAt status } }"""
BID = """mutation($m: ID!, $a: ID!, $x: Int!, $k: String!) { placeBid(input: {memberId: $m,
  auctionId: $a, amount: $x, idempotencyKey: $k}) {
  __typename ... on BidPayload { bid { amount status } } ... on MutationError { code } } }"""
NAME = """mutation($m: ID!, $n: String!) { updateMemberProfile(input: {memberId: $m, name: $n}) {
  __typename } }"""


@pytest.fixture
async def replicas(
    settings: Settings, clock: FrozenClock
) -> AsyncIterator[tuple[LiveApp, LiveApp]]:
    async for first in serve_app(settings, clock):
        async for second in serve_app(settings, clock):
            yield first, second


async def bid(app: LiveApp, member: str, auction: str, amount: int, key: str) -> str:
    body = await app.api.call(
        BID, {"m": member, "a": auction, "x": amount, "k": key}, app.api.member_headers(member)
    )
    typename: str = body["data"]["placeBid"]["__typename"]
    return typename


async def test_a_watcher_on_another_replica_sees_each_new_leading_bid(
    replicas: tuple[LiveApp, LiveApp],
) -> None:
    front, back = replicas  # bids go through `front`; the watchers are connected to `back`
    auction = await make_walk_auction(front)
    ann = await front.api.register("pos", "ann")
    bob = await front.api.register("pos", "bob")
    for member, name in ((ann, "张小明"), (bob, "Bob")):
        await front.api.earn(member, 1_000, f"seed-{member}")
        await front.api.call(NAME, {"m": member, "n": name}, front.api.staff_headers())

    async with (
        graphql_ws(back.ws_url, token=back.staff_token()) as watcher,
        graphql_ws(back.ws_url, token=back.member_token(ann)) as outbid,
    ):
        await watcher.subscribe("w", LIVE, {"a": auction})
        first = (await watcher.next_data("w"))["liveAuction"]
        assert (first["leadingBid"], first["minimumBid"], first["bidders"]) == (None, 1, 0)
        await outbid.subscribe("e", MEMBER_EVENTS, {"m": ann})

        assert await bid(front, ann, auction, 10, "a1") == "BidPayload"
        frame = (await watcher.next_data("w"))["liveAuction"]
        assert frame["leadingBid"] == 10 and frame["leaderName"] == "张*明"
        assert (frame["minimumBid"], frame["bidders"], frame["bids"]) == (11, 1, 1)

        assert await bid(front, bob, auction, 25, "b1") == "BidPayload"
        frame = (await watcher.next_data("w"))["liveAuction"]
        assert (frame["leadingBid"], frame["leaderName"], frame["bidders"]) == (25, "B*b", 2)

        # Ann, on the other replica, is told she was outbid.
        while True:
            event = (await outbid.next_data("e"))["memberEvents"]
            if event["type"] == "auction.outbid":
                break
        assert event["payload"]["leading_amount"] == 25
        balance = await ledger.get_balance(back.runtime, int(ann))
        assert (balance.available, balance.held) == (1_000, 0)  # her hold voided at once


CAMPAIGN = """subscription($c: ID!) { liveCampaign(id: $c) { pledged backers progress status } }"""
PLEDGE = """mutation($m: ID!, $c: ID!, $x: Int!, $k: String!) { pledgePoints(input: {memberId: $m,
  campaignId: $c, amount: $x, idempotencyKey: $k}) { __typename } }"""


async def test_a_campaigns_progress_reaches_a_watcher_on_another_replica(
    replicas: tuple[LiveApp, LiveApp],
) -> None:
    front, back = replicas
    campaign = await make_walk_campaign(front)  # a goal of 100 points
    member = await front.api.register("pos", "cat")
    await front.api.earn(member, 1_000, "seed-cat")
    async with graphql_ws(back.ws_url, token=back.member_token(member)) as watcher:
        await watcher.subscribe("c", CAMPAIGN, {"c": campaign})
        first = (await watcher.next_data("c"))["liveCampaign"]
        assert first == {"pledged": 0, "backers": 0, "progress": 0.0, "status": "OPEN"}
        body = await front.api.call(
            PLEDGE,
            {"m": member, "c": campaign, "x": 40, "k": "p1"},
            front.api.member_headers(member),
        )
        assert body["data"]["pledgePoints"]["__typename"] == "PledgePayload", body
        frame = (await watcher.next_data("c"))["liveCampaign"]
        assert frame == {"pledged": 40, "backers": 1, "progress": 0.4, "status": "OPEN"}


LIVE_DUEL = """subscription($m: ID!, $d: ID!) { liveDuel(memberId: $m, id: $d) {
  status challengerScore opponentScore } }"""
ACCEPT = """mutation($m: ID!, $d: ID!, $k: String!) { acceptDuel(input: {memberId: $m, duelId: $d,
  idempotencyKey: $k}) { __typename } }"""


async def test_a_duel_watcher_on_another_replica_sees_the_accept_and_each_score_change(
    replicas: tuple[LiveApp, LiveApp], clock: FrozenClock
) -> None:
    front, back = replicas
    ann = await front.api.register("pos", "ann")
    bob = await front.api.register("pos", "bob")
    duel = await make_walk_duel(front.api, ann, bob)
    async with graphql_ws(back.ws_url, token=back.member_token(ann)) as watcher:
        await watcher.subscribe("d", LIVE_DUEL, {"m": ann, "d": duel})
        first = (await watcher.next_data("d"))["liveDuel"]
        assert (first["status"], first["challengerScore"]) == ("PENDING", 0)
        body = await front.api.call(
            ACCEPT, {"m": bob, "d": duel, "k": "ok"}, front.api.member_headers(bob)
        )
        assert body["data"]["acceptDuel"]["__typename"] == "DuelPayload", body
        assert (await watcher.next_data("d"))["liveDuel"]["status"] == "OPEN"
        clock.advance(timedelta(minutes=1))
        await front.api.earn(bob, 30, "bob-buys")  # bob's topic: the scores are re-read
        frame = (await watcher.next_data("d"))["liveDuel"]
        assert (frame["challengerScore"], frame["opponentScore"]) == (0, 30)
