"""Sockets and their credentials, through the real app on a real WebSocket: a subscription ends
when its token expires, its key is revoked or its member is closed; a socket runs a bounded
number of operations; a rate-limited operation is answered, not dropped."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from websockets.exceptions import ConnectionClosed

from app.auth.apikeys import create_api_key, revoke_api_key
from app.auth.tokens import mint_token
from app.auth.widgetkeys import create_widget_key, revoke_widget_key
from app.clock import FrozenClock
from app.config import Settings
from tests.events.conftest import LiveApp, serve_app
from tests.wsclient import BALANCE, LEGACY_WS, TIMEOUT, GraphQLWs, graphql_ws

PING = "query { __typename }"


@pytest.fixture
async def watchful(settings: Settings, clock: FrozenClock) -> AsyncIterator[LiveApp]:
    changed = settings.model_copy(
        update={
            "ws_credential_recheck_seconds": 0.2,
            "ws_max_operations": 2,
            "rate_limit_member": "3/minute",
        }
    )
    async for live_app in serve_app(changed, clock):
        yield live_app


async def closed_with(ws: GraphQLWs) -> tuple[int, str]:
    """The close code and reason, once the server closes (every other message is skipped)."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await ws.receive(TIMEOUT)
    assert closed.value.rcvd is not None, "the client closed, not the server"
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_a_subscription_ends_when_its_token_expires(watchful: LiveApp) -> None:
    member = await watchful.api.register("pos", "short-lived")
    token = mint_token(watchful.settings, f"member:{member}", [], ttl_seconds=2)
    async with graphql_ws(watchful.ws_url, token=token) as ws:
        await ws.subscribe("1", BALANCE, {"m": member})
        assert (await ws.next_data("1"))["balance"]["available"] == 0
        assert await closed_with(ws) == (4401, "the token has expired")


async def test_a_subscription_ends_when_its_key_is_revoked(watchful: LiveApp) -> None:
    member = await watchful.api.register("pos", "watched")
    async with watchful.runtime.engine.begin() as conn:
        key = await create_api_key(conn, "shop", "pos", ["members:read"])
    async with graphql_ws(watchful.ws_url) as ws:
        ack = await ws.init(apiKey=key)
        assert ack["type"] == "connection_ack", ack
        await ws.subscribe("1", BALANCE, {"m": member})
        assert (await ws.next_data("1"))["balance"]["available"] == 0
        async with watchful.runtime.engine.begin() as conn:
            assert await revoke_api_key(conn, key.split("_")[1])
        assert await closed_with(ws) == (4403, "the API key was revoked")


async def test_a_widgets_socket_ends_when_its_widget_key_is_revoked(watchful: LiveApp) -> None:
    board = """subscription { leaderboard(board: "points-earned", period: "monthly", top: 3) {
      size } }"""
    async with watchful.runtime.engine.begin() as conn:
        key = await create_widget_key(conn, "points-earned")
        other = await create_widget_key(conn, "points-earned")
    async with graphql_ws(watchful.ws_url) as ws, graphql_ws(watchful.ws_url) as kept:
        for socket, credential in ((ws, key), (kept, other)):
            ack = await socket.init(apiKey=credential)
            assert ack["type"] == "connection_ack", ack
            await socket.subscribe("1", board, {})
            assert (await socket.next_data("1"))["leaderboard"]["size"] == 0
        async with watchful.runtime.engine.begin() as conn:
            assert await revoke_widget_key(conn, key.split("_")[1])
        assert await closed_with(ws) == (4403, "the widget key was revoked")
        # The other key's socket stays open and answers.
        await kept.subscribe("2", board, {})
        assert (await kept.next_data("2"))["leaderboard"]["size"] == 0


async def test_a_subscription_ends_when_its_member_is_closed(watchful: LiveApp) -> None:
    member = await watchful.api.register("pos", "leaving")
    async with graphql_ws(watchful.ws_url, token=watchful.member_token(member)) as ws:
        await ws.subscribe("1", BALANCE, {"m": member})
        assert (await ws.next_data("1"))["balance"]["available"] == 0
        closed = await watchful.api.admin(
            """mutation($m: ID!) { setMemberStatus(input: {memberId: $m, status: CLOSED,
                 reason: "asked"}) { __typename } }""",
            {"m": member},
        )
        assert closed["setMemberStatus"]["__typename"] == "MemberPayload", closed
        assert await closed_with(ws) == (4403, "the member is closed")


async def test_legacy_protocol_sockets_are_watched_too(watchful: LiveApp) -> None:
    member = await watchful.api.register("pos", "old-client")
    token = mint_token(watchful.settings, f"member:{member}", [], ttl_seconds=2)
    async with graphql_ws(watchful.ws_url, protocol=LEGACY_WS) as ws:
        assert (await ws.init(token))["type"] == "connection_ack"
        await ws.send(
            {"id": "1", "type": "start", "payload": {"query": BALANCE, "variables": {"m": member}}}
        )
        assert (await ws.receive())["type"] == "data"
        assert await closed_with(ws) == (4401, "the token has expired")


async def test_a_socket_runs_at_most_the_configured_operations(watchful: LiveApp) -> None:
    member = await watchful.api.register("pos", "greedy")
    async with graphql_ws(watchful.ws_url, token=watchful.staff_token()) as ws:
        for op in ("1", "2"):
            await ws.subscribe(op, BALANCE, {"m": member})
            await ws.next_data(op)
        await ws.subscribe("3", BALANCE, {"m": member})
        refused = await ws.receive()
        assert refused["id"] == "3" and refused["type"] == "error", refused
        [error] = refused["payload"]
        assert error["extensions"]["code"] == "LIMIT_REACHED"
        assert "at most 2 operations" in error["message"]
        # The two running ones go on; completing one frees a place.
        await ws.send({"id": "1", "type": "complete"})
        await ws.subscribe("4", BALANCE, {"m": member})
        assert (await ws.next_data("4"))["balance"]["available"] == 0


async def test_a_rate_limited_operation_is_answered_with_an_error_over_a_socket(
    watchful: LiveApp, caplog: pytest.LogCaptureFixture
) -> None:
    member = await watchful.api.register("pos", "busy")
    async with graphql_ws(watchful.ws_url, token=watchful.member_token(member)) as ws:
        for op in ("1", "2", "3"):
            await ws.subscribe(op, PING, {})
            assert await ws.next_data(op) == {"__typename": "Query"}
            assert (await ws.receive())["type"] == "complete"
        await ws.subscribe("4", BALANCE, {"m": member})
        refused = await ws.receive()
        assert refused["id"] == "4", refused
        errors = refused["payload"]["errors"] if refused["type"] == "next" else refused["payload"]
        assert errors[0]["extensions"]["code"] == "RATE_LIMITED", refused
        assert "retry in" in errors[0]["message"]
    assert "Traceback" not in caplog.text
    assert "Exception in worker task" not in caplog.text
