"""A subscriber whose client stops reading (a real WebSocket client that no longer reads its
socket): the server reclaims it after the keepalive, and logs no error for it."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from broadcaster import Event
from websockets.asyncio.client import connect

from app.clock import FrozenClock
from app.config import Settings
from app.events.outbox import MEMBER_PREFIX
from app.events.relay import event_message
from tests.events.conftest import LiveApp, serve_app
from tests.wsclient import MEMBER_EVENTS, TRANSPORT_WS, GraphQLWs

KEEPALIVE = 1.0  # seconds between pings, and to wait for the pong


@pytest.fixture
async def live_with_keepalive(settings: Settings, clock: FrozenClock) -> AsyncIterator[LiveApp]:
    async for live_app in serve_app(
        settings, clock, ws_ping_interval=KEEPALIVE, ws_ping_timeout=KEEPALIVE
    ):
        yield live_app


def offer_big_events(live: LiveApp, member: str, count: int) -> None:
    """Hand this process's subscribers of the member more than a socket's buffers hold."""
    hub = live.runtime.hub
    assert hub is not None
    topic = f"member:{member}"
    channel = hub.channel(topic)
    now = datetime.now(UTC)
    for i in range(count):
        row = {
            "id": 10**9 + i,
            "topic": topic,
            "type": "t",
            "payload": {"padding": "x" * 100_000},
            "created_at": now,
        }
        for subscriber in list(hub._bounded.get(channel, ())):
            subscriber.offer(Event(channel, event_message(row)))


async def unsubscribed(live: LiveApp) -> None:
    hub = live.runtime.hub
    assert hub is not None
    while hub.subscriber_count(MEMBER_PREFIX):  # noqa: ASYNC110  (the hub has no event for "unsubscribed")
        await asyncio.sleep(0.1)


async def test_a_client_that_stops_reading_is_reclaimed_without_an_error_logged(
    live_with_keepalive: LiveApp, caplog: pytest.LogCaptureFixture
) -> None:
    live = live_with_keepalive
    hub = live.runtime.hub
    assert hub is not None
    member = await live.api.register("pos", "slow")
    # A small receive buffer and queue: once it stops reading, the server's sends back up.
    sock = socket.create_connection(("127.0.0.1", int(live.base.rsplit(":", 1)[1])))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    caplog.set_level(logging.WARNING)
    async with connect(
        live.ws_url, sock=sock, subprotocols=[TRANSPORT_WS], max_queue=1, ping_interval=None
    ) as ws:  # type: ignore[list-item]
        client = GraphQLWs(ws)
        assert (await client.init(live.staff_token()))["type"] == "connection_ack"
        await client.subscribe("1", MEMBER_EVENTS, {"m": member})
        await client.events("1", 1)
        assert hub.subscriber_count(MEMBER_PREFIX) == 1

        # From here on the client reads nothing (its library stops reading the socket too).
        offer_big_events(live, member, 40)
        await asyncio.wait_for(unsubscribed(live), 60)

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [(r.name, r.getMessage()) for r in errors]
