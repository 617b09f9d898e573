"""Fan-out: an event is executed once per process for all the subscribers that asked for the same
fields of it (app/graphql/core/fanout.py), whatever their cursor or credential, and apart for
those whose selection differs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import Any

import pytest
from graphql.execution.executor import Executor

from app.graphql.members.subscriptions import MemberEventNode
from tests.events.conftest import LiveApp
from tests.wsclient import LEGACY_WS, MEMBER_EVENTS, GraphQLWs, graphql_ws

NARROW = """subscription($m: ID!, $after: ID) {
  memberEvents(memberId: $m, after: $after) { id type }
}"""
MAYBE_PAYLOAD = """subscription($m: ID!, $full: Boolean!) {
  memberEvents(memberId: $m) { id payload @include(if: $full) }
}"""


@contextmanager
def executions_per_event(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[int]]:
    """How many times graphql-core executed each memberEvents event (its selection set)."""
    counted: Counter[int] = Counter()
    execute = Executor.execute_operation

    def counting(self: Executor[Any], serially: bool | None = None) -> Any:
        if isinstance(self.root_value, MemberEventNode):
            counted[self.root_value.event.id] += 1
        return execute(self, serially)

    with monkeypatch.context() as patch:
        patch.setattr(Executor, "execute_operation", counting)
        yield counted


async def sockets(live: LiveApp, stack: AsyncExitStack, tokens: list[str]) -> list[GraphQLWs]:
    return [await stack.enter_async_context(graphql_ws(live.ws_url, token=t)) for t in tokens]


async def test_subscribers_of_one_topic_share_one_execution_per_event(
    live: LiveApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = await live.api.register("pos", "a")
    async with AsyncExitStack() as stack:
        own, staff = live.member_token(member), live.staff_token()
        clients = await sockets(live, stack, [own, own, staff, staff, own])
        # Different cursors (from the start, or after the registration) and credentials.
        for ws in clients[:4]:
            await ws.subscribe("e", MEMBER_EVENTS, {"m": member})
        registered = [(await ws.events("e", 1))[0] for ws in clients[:4]]
        assert {e["type"] for e in registered} == {"member.registered"}
        await clients[4].subscribe("e", MEMBER_EVENTS, {"m": member, "after": registered[0]["id"]})
        await clients[0].subscribe("n", NARROW, {"m": member, "after": registered[0]["id"]})
        await clients[4].nothing_more()

        with executions_per_event(monkeypatch) as executed:
            posted = await live.api.earn(member, 7, "fan-1")
            assert posted["__typename"] == "PointsPosted", posted
            # The first socket carries both operations, in either order.
            both = [await clients[0].receive() for _ in range(2)]
            by_operation = {m["id"]: m["payload"]["data"]["memberEvents"] for m in both}
            narrow = by_operation["n"]
            received = [by_operation["e"], *[(await ws.events("e", 1))[0] for ws in clients[1:]]]
        event_id = int(received[0]["id"])
        # Five subscribers of the full selection, one of the narrow one: two executions.
        assert executed == {event_id: 2}, executed
        assert all(event == received[0] for event in received)
        assert received[0]["type"] == "points.earned"
        assert received[0]["balance"] == {"available": 7}
        assert narrow == {"id": str(event_id), "type": "points.earned"}
        for ws in clients:
            await ws.nothing_more()


async def test_what_the_selection_uses_keeps_answers_apart(
    live: LiveApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A variable used below the root field (here by @include) makes a different answer; the
    legacy protocol gets the shared answer too."""
    member = await live.api.register("pos", "a")
    token = live.member_token(member)
    async with AsyncExitStack() as stack:
        full, bare = await sockets(live, stack, [token, token])
        legacy = await stack.enter_async_context(graphql_ws(live.ws_url, LEGACY_WS))
        await legacy.send(
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
        )
        assert (await legacy.receive())["type"] == "connection_ack"
        await full.subscribe("f", MAYBE_PAYLOAD, {"m": member, "full": True})
        await bare.subscribe("b", MAYBE_PAYLOAD, {"m": member, "full": False})
        await legacy.send(
            {
                "id": "l",
                "type": "start",
                "payload": {"query": MAYBE_PAYLOAD, "variables": {"m": member, "full": True}},
            }
        )
        for ws, op in ((full, "f"), (bare, "b")):
            await ws.next_data(op)  # the registration, replayed
        assert (await legacy.receive())["type"] == "data"

        with executions_per_event(monkeypatch) as executed:
            await live.api.earn(member, 3, "fan-2")
            shown = (await full.next_data("f"))["memberEvents"]
            hidden = (await bare.next_data("b"))["memberEvents"]
            legacy_data = await legacy.receive()
        assert executed == {int(shown["id"]): 2}, executed
        assert shown["payload"]["entry"]["amount"] == 3
        assert hidden == {"id": shown["id"]}
        assert legacy_data["type"] == "data"
        assert legacy_data["payload"]["data"]["memberEvents"] == shown
