"""The leaderboard widget on a brand's page (another origin), with nothing but its snippet: it
shows the board with masked names and moves within a second of an earn sent elsewhere."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from playwright.async_api import Page, expect

from app.auth.widgetkeys import create_widget_key
from app.runtime import Runtime
from app.seed import seed_demo
from tests.browser.conftest import LiveServer, screenshot

MEMBERS = """{ a: memberByRef(channel: "app", externalRef: "app-user-42") { id }
  b: memberByRef(channel: "pos", externalRef: "pos-card-8800") { id } }"""
EARN = """mutation($m: ID!, $k: String!) { earnPoints(input: {memberId: $m, amount: 10000,
  reason: "double points week", idempotencyKey: $k}) { __typename } }"""


def snippet(server: LiveServer, key: str) -> str:
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>品牌会员中心</title><style>body {{ font-family: sans-serif; padding: 24px; }}
jifen-leaderboard {{ --jifen-accent: #0b6e4f; }}</style></head><body>
<h1>本月积分达人</h1>
<script type="module" src="{server.base}/widgets/leaderboard.js"></script>
<jifen-leaderboard widget-key="{key}" board="points-earned" period="monthly" top="5">
</jifen-leaderboard>
</body></html>"""


async def test_a_page_with_only_the_snippet_shows_the_board_and_follows_an_earn(
    live_server: LiveServer, page: Page, tmp_path: Path
) -> None:
    await live_server.call(seed_demo)

    async def new_key(rt: Runtime) -> str:
        async with rt.engine.begin() as conn:
            return await create_widget_key(conn, "points-earned")

    key = await live_server.call(new_key)
    ids = await live_server.graphql(MEMBERS)
    leader, chaser = ids["a"]["id"], ids["b"]["id"]  # 王芳 5,200 points; 李娜 650

    with brand_site(snippet(live_server, key)) as brand:
        await page.goto(brand)
        await follows_the_earn(page, live_server, leader, chaser, tmp_path)


@contextmanager
def brand_site(html: str) -> Iterator[str]:
    """The brand's own web server: another origin (another port) serving only the snippet.
    A real server, not an intercepted route: Chromium lets only a page that came from the
    network (here, loopback) load scripts from a loopback address."""
    body = html.encode()

    class SnippetPage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), SnippetPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


async def follows_the_earn(
    page: Page, live_server: LiveServer, leader: str, chaser: str, tmp_path: Path
) -> None:
    widget = page.locator("jifen-leaderboard")
    await expect(widget.locator(f"li[data-member='{leader}']")).to_have_attribute("data-rank", "1")
    await expect(widget.locator(f"li[data-member='{leader}'] .name")).to_have_text("王*")
    await expect(widget.locator(f"li[data-member='{chaser}'] .name")).to_have_text("李*")
    await expect(widget.locator("li[data-member]")).to_have_count(4)  # waits for the render

    await live_server.graphql(EARN, {"m": chaser, "k": f"widget-{uuid.uuid4()}"})
    # Pushed live (no reload); how fast is bench/fanout.py's business, not a test's.
    await expect(widget.locator(f"li[data-member='{chaser}']")).to_have_attribute("data-rank", "1")
    await expect(widget.locator(f"li[data-member='{leader}']")).to_have_attribute("data-rank", "2")
    await screenshot(page, "widget-leaderboard", tmp_path)
    assert page.errors == []  # type: ignore[attr-defined]
