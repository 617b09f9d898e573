"""GraphiQL in a real Chromium: the page and everything it loads come from Jifen itself (no CDN
at run time), and it runs a query as the console's signed-in staff member."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from playwright.async_api import Page, Request, expect

from app.auth.principal import Role
from tests.browser.conftest import LiveServer
from tests.browser.test_console import sign_in


async def test_graphiql_loads_only_local_files_and_runs_a_query(
    live_server: LiveServer, page: Page
) -> None:
    await live_server.add_staff("wang.fang", Role.ADMIN)
    hosts: set[str] = set()

    def seen(request: Request) -> None:
        if not request.url.startswith("data:"):
            hosts.add(urlsplit(request.url).netloc)

    page.on("request", seen)
    await sign_in(page, live_server, "wang.fang")
    await expect(page.locator("#who")).to_contain_text("wang.fang")

    html = await page.request.get(f"{live_server.base}/graphql", headers={"accept": "text/html"})
    assert "script-src 'self'" in html.headers["content-security-policy"]
    assert "http" not in await html.text()  # every asset by a path on this server

    await page.goto(f"{live_server.base}/graphql?q={quote('{ jobs { name } }')}")
    await expect(page.locator(".graphiql-container .graphiql-query-editor")).to_be_visible()
    await page.click(".graphiql-execute-button")
    # The console's session (cookie + CSRF token) carried the query: the jobs came back.
    await expect(page.locator(".graphiql-response")).to_contain_text("hold-timeouts")
    assert hosts == {urlsplit(live_server.base).netloc}
    assert page.errors == []  # type: ignore[attr-defined]
