"""WebSocket messages obey the same JSON limits as HTTP bodies (docs/API.md "Limits"): too deep,
too big or carrying unstorable text, a message is refused like one that is not JSON (4400),
and the server goes on serving."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import ConnectionClosed

from tests.events.conftest import LiveApp
from tests.wsclient import graphql_ws

ECHO = "subscription($m: ID!) { balance(memberId: $m) { available } }"


async def _refused_with_4400(live: LiveApp, message: str) -> None:
    async with graphql_ws(live.ws_url, token=live.staff_token()) as ws:
        await ws.ws.send(message)
        with pytest.raises(ConnectionClosed) as closed:
            await ws.receive()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400


def _subscribe(variables: dict[str, object]) -> str:
    payload = {"query": ECHO, "variables": variables}
    return json.dumps({"id": "1", "type": "subscribe", "payload": payload})


async def test_a_100_000_level_deep_message_closes_with_4400(live: LiveApp) -> None:
    deep = '{"id": "1", "type": "subscribe", "payload": ' + "[" * 100_000 + "]" * 100_000 + "}"
    await _refused_with_4400(live, deep)
    await _still_serving(live)


async def test_a_message_past_the_json_depth_closes_with_4400(live: LiveApp) -> None:
    nested: object = 1
    for _ in range(live.settings.max_json_depth + 1):
        nested = [nested]
    await _refused_with_4400(live, _subscribe({"m": "1", "x": nested}))


@pytest.mark.parametrize("hostile", ["1\x00", "\ud800"])
async def test_unstorable_text_in_a_message_closes_with_4400(live: LiveApp, hostile: str) -> None:
    await _refused_with_4400(live, _subscribe({"m": hostile}))


async def test_a_message_over_the_size_limit_closes_with_4400(live: LiveApp) -> None:
    big = "x" * (live.settings.max_request_bytes + 1)
    await _refused_with_4400(live, _subscribe({"m": "1", "pad": big}))
    await _still_serving(live)


async def _still_serving(live: LiveApp) -> None:
    member_id = await live.api.register("pos", "after-refusal")
    async with graphql_ws(live.ws_url, token=live.staff_token()) as ws:
        await ws.subscribe("2", ECHO, {"m": member_id})
        data = await ws.next_data("2")
        assert data["balance"]["available"] == 0
