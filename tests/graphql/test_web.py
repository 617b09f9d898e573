"""The HTTP surface: health checks, authentication errors, WebSocket authentication."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.auth.tokens import mint_token
from app.clock import FrozenClock
from app.config import Settings
from app.members import usecases as member_usecases
from app.web import create_app
from tests.graphql.conftest import Api


async def test_healthz_and_readyz(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


async def test_readyz_names_what_failed(settings: Settings, clock: FrozenClock) -> None:
    import httpx

    broken = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    app = create_app(broken, clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert list(body["failed"]) == ["redis"]


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


def _ws_init(client: TestClient, protocol: str, payload: dict[str, Any]) -> dict[str, Any]:
    with client.websocket_connect("/graphql", subprotocols=[protocol]) as ws:
        init = "connection_init"
        ws.send_json({"type": init, "payload": payload})
        message: dict[str, Any] = ws.receive_json()
        return message


@pytest.fixture
def ws_client(settings: Settings) -> Any:
    with TestClient(create_app(settings)) as client:
        yield client


def test_websocket_connection_init_authenticates(ws_client: TestClient, settings: Settings) -> None:
    token = mint_token(settings, "staff:alice", ["analyst"])
    ack = _ws_init(ws_client, "graphql-transport-ws", {"Authorization": f"Bearer {token}"})
    assert ack == {"type": "connection_ack", "payload": {"principal": "staff:alice"}}
    ack = _ws_init(ws_client, "graphql-ws", {"token": token})
    assert ack["type"] == "connection_ack"


def test_websocket_with_a_bad_token_is_rejected(ws_client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect) as closed:
        _ws_init(ws_client, "graphql-transport-ws", {"Authorization": "Bearer forged"})
    assert closed.value.code == 4403
    message = _ws_init(ws_client, "graphql-ws", {"token": "forged"})
    assert message["type"] == "connection_error"
    assert message["payload"]["code"] == "UNAUTHENTICATED"
