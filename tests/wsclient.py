"""A small graphql-transport-ws client for tests (the `websockets` library), with timeouts
everywhere: a test waits for a message, never sleeps for one."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
# A hang detector, not a timing: how fast pushes arrive is measured in bench/, and a machine
# running several suites at once may take seconds to deliver one.
TIMEOUT = 30.0

MEMBER_EVENTS = """subscription($m: ID!, $after: ID) {
  memberEvents(memberId: $m, after: $after) { id type createdAt payload balance { available } }
}"""
BALANCE = """subscription($m: ID!) { balance(memberId: $m) { available pending held total } }"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class GraphQLWs:
    """One graphql-transport-ws connection."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, within: float = TIMEOUT) -> dict[str, Any]:
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), within)
            # Text frames only: browsers' graphql-ws cannot parse a binary one.
            assert isinstance(raw, str), f"a binary frame: {raw!r}"
            message: dict[str, Any] = json.loads(raw)
            if message.get("type") in {"ping", "ka"}:
                if message["type"] == "ping":
                    await self.send({"type": "pong"})
                continue
            return message

    async def init(self, token: str | None = None, **payload: Any) -> dict[str, Any]:
        if token is not None:
            payload["Authorization"] = f"Bearer {token}"
        await self.send({"type": "connection_init", "payload": payload})
        return await self.receive()

    async def subscribe(self, op_id: str, query: str, variables: dict[str, Any]) -> None:
        await self.send(
            {"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )

    async def next_data(self, op_id: str, within: float = TIMEOUT) -> dict[str, Any]:
        """The next ``next`` payload's data for ``op_id``; fails on anything else for it."""
        while True:
            message = await self.receive(within)
            if message.get("id") != op_id:
                continue
            assert message["type"] == "next", message
            assert "errors" not in message["payload"], message
            data: dict[str, Any] = message["payload"]["data"]
            return data

    async def events(self, op_id: str, count: int, within: float = TIMEOUT) -> list[dict[str, Any]]:
        """``count`` memberEvents items, in the order received."""
        return [(await self.next_data(op_id, within))["memberEvents"] for _ in range(count)]

    async def nothing_more(self, within: float = 0.3) -> None:
        try:
            message = await self.receive(within)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message {message}")


@asynccontextmanager
async def graphql_ws(
    url: str, protocol: str = TRANSPORT_WS, token: str | None = None
) -> AsyncIterator[GraphQLWs]:
    """Connected and (when ``token`` is given) acknowledged."""
    async with connect(url, subprotocols=[protocol], open_timeout=TIMEOUT) as ws:  # type: ignore[list-item]
        client = GraphQLWs(ws)
        if token is not None:
            ack = await client.init(token)
            assert ack["type"] == "connection_ack", ack
        yield client
