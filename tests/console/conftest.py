"""The console's HTTP endpoints through the real ASGI app (cookies kept by the client)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from app.auth.principal import Role
from app.auth.staff import create_staff
from app.runtime import Runtime
from tests.graphql.conftest import app, app_runtime

__all__ = ["app", "app_runtime"]  # the real ASGI app and its runtime, as for the API's tests

PASSWORD = "correct horse battery"


@pytest.fixture
async def browser(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A client that keeps cookies, as a browser does."""
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def add_staff(runtime: Runtime, name: str, role: Role, password: str = PASSWORD) -> None:
    async with runtime.engine.begin() as conn:
        await create_staff(conn, name, role, password)
