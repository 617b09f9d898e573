"""Subscriptions through the real app over a real WebSocket: replay, live, dedupe, authorisation,
bad input, slow consumers."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from broadcaster import Event
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.analytics.alerts import Alert, fire
from app.auth.permissions import PARTNER_SCOPES, Subject, allows
from app.auth.principal import ANONYMOUS, Principal, Role
from app.db import unit_of_work
from app.events.relay import event_message
from app.graphql.schema import schema
from app.jobs import usecases as jobs
from tests.events.conftest import LiveApp
from tests.events.test_expiry_alerts import EXPIRY_ALERTS, earn_expiring
from tests.graphql.core.walk_engagement import CHALLENGE_BOARD, create_walk_board
from tests.graphql.core.walk_games import (
    LIVE_AUCTION,
    LIVE_CAMPAIGN,
    PROGRAMME_WIDE,
    live_duel,
    live_quest,
    make_walk_auction,
    make_walk_campaign,
    make_walk_duel,
    make_walk_quest,
)
from tests.wsclient import BALANCE, LEGACY_WS, MEMBER_EVENTS, graphql_ws

LEADERBOARD = """subscription($m: ID!) {
  leaderboard(memberId: $m) { size member { rank points } } }"""
SIGN_IN_STREAK = "subscription($m: ID!) { signInStreak(memberId: $m) { streak } }"
SUBSCRIPTIONS = sorted(schema._schema.subscription_type.fields)  # type: ignore[union-attr]


async def earn(live: LiveApp, member: str, amount: int, key: str) -> None:
    result = await live.api.earn(member, amount, key)
    assert result["__typename"] == "PointsPosted", result


async def test_member_events_replay_then_live_in_order(live: LiveApp) -> None:
    member = await live.api.register("pos", "a")
    await earn(live, member, 10, "k1")
    await earn(live, member, 20, "k2")
    async with graphql_ws(live.ws_url, token=live.member_token(member)) as ws:
        await ws.subscribe("1", MEMBER_EVENTS, {"m": member})
        replayed = await ws.events("1", 3)
        assert [e["type"] for e in replayed] == [
            "member.registered",
            "points.earned",
            "points.earned",
        ]
        assert [e["balance"] for e in replayed] == [None, {"available": 10}, {"available": 30}]
        assert replayed[1]["payload"]["entry"]["amount"] == 10
        await earn(live, member, 5, "k3")
        live_event = (await ws.next_data("1", within=2))["memberEvents"]
        assert live_event["balance"] == {"available": 35}
        ids = [int(e["id"]) for e in [*replayed, live_event]]
        assert ids == sorted(ids) and len(set(ids)) == 4
        await ws.nothing_more()

        # Resuming after the second event replays exactly the rest.
        await ws.subscribe("2", MEMBER_EVENTS, {"m": member, "after": str(ids[1])})
        resumed = await ws.events("2", 2)
        assert [int(e["id"]) for e in resumed] == ids[2:]


async def test_live_events_are_not_duplicated_by_the_replay(live: LiveApp) -> None:
    """Events committed while the replay runs arrive once: replay and live overlap by id."""
    member = await live.api.register("pos", "a")
    async with graphql_ws(live.ws_url, token=live.staff_token()) as ws:
        await ws.subscribe("1", MEMBER_EVENTS, {"m": member})
        writes = asyncio.gather(*(earn(live, member, 1, f"burst-{i}") for i in range(20)))
        received = await ws.events("1", 21)
        await writes
        await ws.nothing_more(0.5)
    ids = [int(e["id"]) for e in received]
    assert ids == sorted(set(ids))
    assert received[-1]["balance"] == {"available": 20}


async def test_balance_pushes_now_then_on_change(live: LiveApp) -> None:
    member = await live.api.register("pos", "a")
    await earn(live, member, 100, "b1")
    async with graphql_ws(live.ws_url, token=live.member_token(member)) as ws:
        await ws.subscribe("b", BALANCE, {"m": member})
        assert (await ws.next_data("b"))["balance"]["available"] == 100
        await earn(live, member, 7, "b2")
        assert (await ws.next_data("b", within=2))["balance"]["available"] == 107


async def test_the_legacy_graphql_ws_protocol_works_too(live: LiveApp) -> None:
    member = await live.api.register("pos", "a")
    async with connect(live.ws_url, subprotocols=[LEGACY_WS]) as ws:  # type: ignore[list-item]
        token = live.member_token(member)
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "start",
                    "payload": {"query": MEMBER_EVENTS, "variables": {"m": member}},
                }
            )
        )
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if message["type"] != "ka":
                break
        assert message["type"] == "data", message
        assert message["payload"]["data"]["memberEvents"]["type"] == "member.registered"


# -- authorisation and bad input ------------------------------------------------------------------


def error_code(message: dict[str, Any]) -> str | None:
    """The code of a refusal: an ``error`` message (before execution) or a ``next`` carrying
    errors (raised by the resolver, as the protocol sends execution errors)."""
    if message["type"] == "error":
        code: str = message["payload"][0]["extensions"]["code"]
        return code
    if message["type"] == "next" and message["payload"].get("errors"):
        found: str = message["payload"]["errors"][0]["extensions"]["code"]
        return found
    return None


async def refusal(ws: Any, op_id: str) -> str | None:
    while True:
        message = await ws.receive()
        if message.get("id") == op_id and message["type"] != "complete":
            return error_code(message)


async def first_response(
    live: LiveApp, headers: dict[str, str], query: str, member: str
) -> dict[str, Any]:
    """Subscribe with the credential in ``headers`` and return the first message about it
    (``$m``: the member, or the thing a programme-wide subscription follows)."""
    async with graphql_ws(live.ws_url) as ws:
        ack = await ws.init(**headers)
        if ack["type"] != "connection_ack":
            return ack
        await ws.subscribe("1", query, {"m": member})
        return await ws.receive()


async def test_every_subscription_refuses_exactly_whom_the_table_says(live: LiveApp) -> None:
    api = live.api
    a = await api.register("pos", "a")
    b = await api.register("web", "b")
    all_scopes = frozenset(PARTNER_SCOPES)
    callers: list[tuple[str, Principal, dict[str, str]]] = [
        ("member self", Principal.member(int(a)), api.member_headers(a)),
        ("member other", Principal.member(int(b)), api.member_headers(b)),
        *(
            (f"staff {role}", Principal.staff("alice", {role}), api.staff_headers(role))
            for role in Role
        ),
        (
            "partner scoped",
            Principal.of_partner("shop", "pos", all_scopes),
            await api.partner_headers(sorted(all_scopes), "pos", "shop"),
        ),
        (
            "partner unscoped",
            Principal.of_partner("bare", "pos", frozenset()),
            await api.partner_headers([], "pos", "bare"),
        ),
        (
            "partner other channel",
            Principal.of_partner("web", "web", all_scopes),
            await api.partner_headers(sorted(all_scopes), "web", "web"),
        ),
    ]
    queries = {"memberEvents": MEMBER_EVENTS, "balance": BALANCE, "leaderboard": LEADERBOARD}
    queries["signInStreak"] = SIGN_IN_STREAK
    queries["expiryAlerts"] = EXPIRY_ALERTS
    await earn_expiring(live, a, 10, 5, "walk-expiring")  # an alert to replay to allowed callers
    await jobs.run_now(live.runtime, "expiry-reminders")
    queries["challengeBoard"] = CHALLENGE_BOARD
    await create_walk_board(live.runtime)
    queries["programmeAlerts"] = "subscription { programmeAlerts { id type } }"
    async with unit_of_work(live.runtime.engine) as conn:  # an alert to replay to staff
        walk = Alert("alert.credential_failures", "programme", "walk", {"failures": 1})
        await fire(conn, [walk], live.runtime.clock.now())
    # The registrations above are events: the feed answers at once with the latest.
    queries["programmeEvents"] = "subscription { programmeEvents(recent: 1) { id type } }"
    queries["liveAuction"] = LIVE_AUCTION
    queries["liveCampaign"] = LIVE_CAMPAIGN
    games = {
        "liveAuction": await make_walk_auction(live),
        "liveCampaign": await make_walk_campaign(live),
    }
    queries["liveDuel"] = live_duel(await make_walk_duel(live.api, b, a))
    queries["liveQuest"] = live_quest(await make_walk_quest(live.api))
    assert sorted(queries) == SUBSCRIPTIONS
    subject = Subject(int(a), frozenset({"pos"}))
    for name, principal, headers in callers:
        for operation, query in queries.items():
            target = games.get(operation, a)
            message = await first_response(live, headers, query, target)
            where = f"{name} → {operation}: {message}"
            channel = principal.channel
            own = Subject(principal.member_id, frozenset({channel} if channel else ()))
            if allows(principal, operation, own if operation in PROGRAMME_WIDE else subject):
                assert message["type"] == "next" and error_code(message) is None, where
            else:
                assert error_code(message) == "FORBIDDEN", where
    # Anonymous: connection_init without credentials is accepted, the subscription refused.
    assert not allows(ANONYMOUS, "memberEvents")
    message = await first_response(live, {}, MEMBER_EVENTS, a)
    assert error_code(message) == "UNAUTHENTICATED"


async def test_unknown_member_and_bad_ids_are_clear_errors(live: LiveApp) -> None:
    async with graphql_ws(live.ws_url, token=live.staff_token()) as ws:
        await ws.subscribe("1", MEMBER_EVENTS, {"m": "999999"})
        assert await refusal(ws, "1") == "NOT_FOUND"
        await ws.subscribe("2", MEMBER_EVENTS, {"m": "abc"})
        assert await refusal(ws, "2") == "INVALID_INPUT"
        await ws.subscribe("3", MEMBER_EVENTS, {"m": "1", "after": "-5"})
        assert await refusal(ws, "3") == "INVALID_INPUT"


async def test_protocol_violations_close_with_the_protocol_codes(live: LiveApp) -> None:
    # A wrong token: refused at connection_init (4403 Forbidden).
    async with graphql_ws(live.ws_url) as ws:
        await ws.send({"type": "connection_init", "payload": {"Authorization": "Bearer nope"}})
        with pytest.raises(ConnectionClosed) as closed:
            await ws.receive()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    # A malformed connection_init (payload not an object): 4400.
    async with graphql_ws(live.ws_url) as ws:
        await ws.send({"type": "connection_init", "payload": "not an object"})
        with pytest.raises(ConnectionClosed) as closed:
            await ws.receive()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    # Not JSON at all: 4400.
    async with graphql_ws(live.ws_url) as ws:
        await ws.ws.send("{not json")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.receive()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    # Subscribing without connection_init: 4401 Unauthorized.
    async with graphql_ws(live.ws_url) as ws:
        await ws.subscribe("1", MEMBER_EVENTS, {"m": "1"})
        with pytest.raises(ConnectionClosed) as closed:
            await ws.receive()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    # No connection_init at all: closed after the (here 1 s) wait with 4408.
    async with graphql_ws(live.ws_url) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.receive(within=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4408
    # The server is still healthy.
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{live.base}/readyz")).status_code == 200


async def test_a_slow_subscriber_is_cut_off_with_a_clear_error(live: LiveApp) -> None:
    member = await live.api.register("pos", "a")
    hub = live.runtime.hub
    assert hub is not None
    hub.buffer_size = 3
    async with graphql_ws(live.ws_url, token=live.staff_token()) as ws:
        await ws.subscribe("1", MEMBER_EVENTS, {"m": member})
        first = await ws.events("1", 1)
        # Offer this process's subscribers more in one go than their buffer holds: exactly what
        # a client that stopped reading would face over time.
        topic = f"member:{member}"
        channel = hub.channel(topic)
        now = datetime.now(UTC)
        for i in range(10):
            row = {"id": 10**9 + i, "topic": topic, "type": "t", "payload": {}, "created_at": now}
            for subscriber in list(hub._bounded.get(channel, ())):
                subscriber.offer(Event(channel, event_message(row)))
        while True:
            message = await ws.receive()
            if message["type"] != "next" or error_code(message):
                break
        assert error_code(message) == "SLOW_CONSUMER", message
        text = message["payload"]["errors"][0]["message"]
        assert f"after: {first[0]['id']}" in text
        assert await ws.receive() == {"id": "1", "type": "complete"}
        # The connection itself stays usable: the client resumes from where it was.
        await ws.subscribe("2", MEMBER_EVENTS, {"m": member, "after": first[0]["id"]})
        await ws.nothing_more(0.3)
