"""The HTTP surface: health checks, authentication errors, WebSocket authentication."""

from __future__ import annotations

from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from app.auth.tokens import mint_token
from app.clock import FrozenClock
from app.config import Profile, Settings
from app.members import usecases as member_usecases
from tests.events.conftest import LiveApp
from tests.graphql.conftest import Api, api_with
from tests.wsclient import LEGACY_WS, GraphQLWs, graphql_ws


async def test_healthz_and_readyz(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


async def test_readyz_names_what_failed(settings: Settings, clock: FrozenClock) -> None:
    async with api_with(settings, clock, redis_url="redis://127.0.0.1:1/0") as broken:
        response = await broken.client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert list(body["failed"]) == ["redis"]
    assert "127.0.0.1:1" in body["failed"]["redis"]  # a developer wants to know where


async def test_readyz_in_production_names_no_address(
    settings: Settings, clock: FrozenClock
) -> None:
    async with api_with(
        settings, clock, redis_url="redis://127.0.0.1:1/0", env=Profile.PRODUCTION
    ) as broken:
        response = await broken.client.get("/readyz")
    assert (response.status_code, response.json()) == (
        503,
        {"status": "unavailable", "failed": ["redis"]},
    )


async def test_both_credentials_at_once_are_refused(api: Api) -> None:
    headers = {**api.staff_headers(), "X-Api-Key": "jf_x_y"}
    response = await api.post("{ me { id } }", None, headers)
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_an_unexpected_error_is_masked_with_an_error_id(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError("password=hunter2 in a stack trace")

    monkeypatch.setattr(member_usecases, "find_member_by_ref", broken)
    body = await api.call(
        '{ memberByRef(channel: "pos", externalRef: "x") { id } }', None, api.staff_headers()
    )
    [error] = body["errors"]
    assert "hunter2" not in str(body)
    assert error["message"].startswith("Unexpected error (error id ")
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["extensions"]["errorId"] in caplog.text


async def legacy_init(ws: GraphQLWs, token: str) -> dict[str, Any]:
    """graphql-ws clients put the token in the payload under their own key."""
    await ws.send({"type": "connection_init", "payload": {"token": token}})
    return await ws.receive()


async def test_websocket_connection_init_authenticates(live: LiveApp, settings: Settings) -> None:
    token = mint_token(settings, "staff:alice", ["analyst"])
    async with graphql_ws(live.ws_url) as ws:
        ack = await ws.init(token)
    assert ack == {"type": "connection_ack", "payload": {"principal": "staff:alice"}}
    async with graphql_ws(live.ws_url, LEGACY_WS) as ws:
        ack = await legacy_init(ws, token)
    assert ack["type"] == "connection_ack"


async def test_websocket_with_a_bad_token_is_rejected(live: LiveApp) -> None:
    async with graphql_ws(live.ws_url) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.init("forged")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    async with graphql_ws(live.ws_url, LEGACY_WS) as ws:
        message = await legacy_init(ws, "forged")
    assert message["type"] == "connection_error"
    assert message["payload"]["code"] == "UNAUTHENTICATED"
