"""A live app for WebSocket tests: the real ASGI app (lifespan, hub, relay) served by uvicorn in
the test's own event loop on a free port, so the tests use a real WebSocket client with timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from app.auth.tokens import mint_token
from app.clock import FrozenClock
from app.config import Settings
from app.runtime import Runtime
from app.web import create_app
from tests.graphql.conftest import Api
from tests.wsclient import free_port


@dataclass
class LiveApp:
    base: str
    ws_url: str
    runtime: Runtime
    api: Api
    settings: Settings

    def member_token(self, member_id: int | str) -> str:
        return mint_token(self.settings, f"member:{member_id}", [])

    def staff_token(self, role: str = "admin") -> str:
        return mint_token(self.settings, "staff:alice", [role])


async def serve_app(
    settings: Settings, clock: FrozenClock, **server_options: Any
) -> AsyncIterator[LiveApp]:
    app = create_app(settings, clock)
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        **server_options,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise AssertionError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            runtime: Runtime = app.state.runtime
            api = Api(client, settings, runtime)
            yield LiveApp(base, f"ws://127.0.0.1:{port}/graphql", runtime, api, settings)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def live(settings: Settings, clock: FrozenClock) -> AsyncIterator[LiveApp]:
    fast = settings.model_copy(update={"ws_connection_init_timeout_seconds": 1.0})
    async for live_app in serve_app(fast, clock):
        yield live_app
