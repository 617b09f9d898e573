"""Browser tests: Debian's Chromium driven by Playwright, against a real Jifen server (uvicorn in
a thread of this process, on a free port) with the real PostgreSQL and Redis of tests/conftest.py.

Playwright is pointed at the system browser (``/usr/bin/chromium``, which ``.ci/run`` installs);
it never downloads one. A missing browser fails the tests: nothing skips.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright

from app.auth.principal import Role
from app.auth.staff import create_staff
from app.auth.tokens import mint_token
from app.config import Settings
from app.runtime import Runtime
from app.web import create_app
from tests.e2e.test_serve import free_port
from tests.eventually import eventually_blocking

T = TypeVar("T")
CHROMIUM = Path(os.environ.get("JIFEN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "correct horse battery"


class LiveServer:
    """``create_app`` served by uvicorn on its own event loop in a thread."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.app = create_app(settings)
        self.settings = settings
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            ws_per_message_deflate=False,
        )
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def start(self) -> None:
        self.thread.start()
        eventually_blocking(self._ready, within=30)

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
        assert not self.thread.is_alive(), "the server did not stop"

    async def call(self, work: Callable[[Runtime], Awaitable[T]]) -> T:
        """Run ``work`` with the server's runtime, on the server's loop."""
        runtime: Runtime = self.app.state.runtime

        async def run() -> T:
            return await work(runtime)

        future: Future[T] = asyncio.run_coroutine_threadsafe(run(), self.loop)
        return await asyncio.wrap_future(future)

    async def add_staff(self, name: str, role: Role) -> None:
        async def add(rt: Runtime) -> None:
            async with rt.engine.begin() as conn:
                await create_staff(conn, name, role, PASSWORD)

        await self.call(add)

    async def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Ask the API directly, as an admin with a bearer token (what the page must agree with)."""
        token = mint_token(self.settings, "staff:api-check", ["admin"])
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(
                f"{self.base}/graphql",
                json={"query": query, "variables": variables or {}},
                headers={"Authorization": f"Bearer {token}"},
            )
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data


def serving(settings: Settings, **changes: object) -> Iterator[LiveServer]:
    # A revoked widget key closes its sockets within the re-check interval (docs/WIDGETS.md).
    changed = {"ws_credential_recheck_seconds": 0.5, **changes}
    server = LiveServer(settings.model_copy(update=changed))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def live_server(settings: Settings, clean_state: None) -> Iterator[LiveServer]:
    yield from serving(settings)


@pytest.fixture
def webhook_server(settings: Settings, clean_state: None) -> Iterator[LiveServer]:
    """A server that also sends webhooks, to receivers on loopback (tests/webhooks)."""
    yield from serving(
        settings,
        webhooks_in_serve=True,
        webhook_allowed_networks=["127.0.0.1/32"],
        webhook_connect_timeout_seconds=5.0,
    )


@pytest.fixture(scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
async def chromium(playwright: Playwright) -> AsyncIterator[Browser]:
    if not shutil.which(str(CHROMIUM)):
        raise AssertionError(
            f"no browser at {CHROMIUM}: `apt-get install chromium` (.ci/run does it)"
        )
    browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    await browser.close()


@pytest.fixture
async def context(chromium: Browser) -> AsyncIterator[BrowserContext]:
    context = await chromium.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    yield context
    await context.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors  # type: ignore[attr-defined]
    return page


async def screenshot(page: Page, name: str, folder: Path) -> None:
    """A picture for the docs, taken by the test that shows the thing: into docs/screenshots/
    with ``JIFEN_SCREENSHOTS=1`` (``make screenshots``), else into the test's own folder."""
    target = SCREENSHOTS if os.environ.get("JIFEN_SCREENSHOTS") == "1" else folder
    target.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(target / f"{name}.png"), full_page=True)
