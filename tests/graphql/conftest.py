"""GraphQL tests go through the real ASGI app (httpx.ASGITransport), which does not run the
lifespan: the ``app`` fixture enters it itself. Built on the session fixtures of
tests/conftest.py, so each test starts from clean tables."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from starlette.applications import Starlette

from app.auth.apikeys import create_api_key
from app.auth.tokens import mint_token
from app.clock import FrozenClock
from app.config import Settings
from app.ledger.audit import audit_ledger
from app.runtime import Runtime
from app.web import create_app

if TYPE_CHECKING:
    from tests.events.conftest import LiveApp


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock) -> AsyncIterator[Starlette]:
    application = create_app(settings, clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def app_runtime(app: Starlette) -> Runtime:
    runtime: Runtime = app.state.runtime
    return runtime


class Api:
    """A GraphQL client speaking as one caller at a time."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings, runtime: Runtime) -> None:
        self.client = client
        self.settings = settings
        self.runtime = runtime

    def staff_headers(self, role: str = "admin", name: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(self.settings, f'staff:{name}', [role])}"}

    def member_headers(self, member_id: int | str) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(self.settings, f'member:{member_id}', [])}"}

    async def partner_headers(
        self, scopes: list[str], channel: str = "pos", partner: str = "shop"
    ) -> dict[str, str]:
        async with self.runtime.engine.begin() as conn:
            key = await create_api_key(conn, partner, channel, scopes)
        return {"X-Api-Key": key}

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        return await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers or {}
        )

    async def call(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        response = await self.post(query, variables, headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def admin(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await self.call(query, variables, self.staff_headers("admin"))
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def register(self, channel: str, ref: str) -> str:
        data = await self.admin(
            """mutation($c: String!, $r: String!) {
                 registerMember(input: {channel: $c, externalRef: $r}) {
                   ... on MemberRegistered { member { id } } } }""",
            {"c": channel, "r": ref},
        )
        member_id: str = data["registerMember"]["member"]["id"]
        return member_id

    async def earn(
        self, member_id: str, amount: int, key: str, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        body = await self.call(
            """mutation($m: ID!, $a: Int!, $k: String!) {
                 earnPoints(input: {memberId: $m, amount: $a, reason: "test", idempotencyKey: $k}) {
                   __typename
                   ... on PointsPosted { entry { id } balance { available total } }
                   ... on MutationError { code message field } } }""",
            {"m": member_id, "a": amount, "k": key},
            headers or self.staff_headers("admin"),
        )
        result: dict[str, Any] = body["data"]["earnPoints"]
        return result

    async def ledger_state(self, member_id: str) -> dict[str, Any]:
        """What a write could change: the balance and the whole history."""
        data = await self.admin(
            """query($m: ID!) { member(id: $m) {
                 status balance { available pending held debt total }
                 history(first: 100) { edges { node { id amount } } }
                 holds(activeOnly: false) { id status } } }""",
            {"m": member_id},
        )
        state: dict[str, Any] = data["member"]
        return state


@pytest.fixture
async def api(app: Starlette, settings: Settings, app_runtime: Runtime) -> AsyncIterator[Api]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://jifen.test") as client:
        yield Api(client, settings, app_runtime)


@asynccontextmanager
async def api_with(
    settings: Settings,
    clock: FrozenClock,
    client: tuple[str, int] = ("127.0.0.1", 123),
    **changes: Any,
) -> AsyncIterator[Api]:
    """An Api on its own app built with ``changes`` to the settings, calling from ``client``."""
    changed = settings.model_copy(update=changes)
    application = create_app(changed, clock)
    async with (
        application.router.lifespan_context(application),
        calling_from(application, client) as http,
    ):
        yield Api(http, changed, application.state.runtime)


@asynccontextmanager
async def calling_from(
    application: Starlette, client: tuple[str, int]
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose requests reach ``application`` from the address ``client``."""
    transport = httpx.ASGITransport(app=application, client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://jifen.test") as http:
        yield http


@pytest.fixture
async def live(settings: Settings, clock: FrozenClock) -> AsyncIterator[LiveApp]:
    """The app served by uvicorn on a free port, for real WebSocket clients."""
    from tests.events.conftest import serve_app  # it builds on this module's Api

    async for live_app in serve_app(settings, clock):
        yield live_app


async def assert_audit_clean(api: Api) -> None:
    report = await audit_ledger(api.runtime.engine, api.runtime.clock.now())
    assert report.ok, report.render()
