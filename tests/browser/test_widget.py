"""The widgets on a brand's page (another origin), with nothing but their snippets: the
leaderboard shows the board with masked names and moves within a second of an earn sent
elsewhere, and the viewer's own rank with a member token; the member widget shows a member's
balance and sign-in streak, live; a revoked widget key's open sockets are closed."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from playwright.async_api import Page, expect

from app.auth.tokens import mint_token
from app.auth.widgetkeys import create_widget_key, revoke_widget_key
from app.runtime import Runtime
from app.seed import seed_demo
from tests.browser.conftest import LiveServer, screenshot

MEMBERS = """{ a: memberByRef(channel: "app", externalRef: "app-user-42") { id }
  b: memberByRef(channel: "pos", externalRef: "pos-card-8800") { id }
  d: memberByRef(channel: "e-commerce", externalRef: "tmall-777") { id } }"""
BALANCE = "query($m: ID!) { member(id: $m) { balance { available } } }"
CHECK_IN = """mutation($m: ID!) { checkIn(input: {memberId: $m}) { __typename
  ... on CheckedIn { signIn { streak } } } }"""
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

        # Revoked, the key's open socket is closed (within the re-check interval) and the
        # widget says so instead of showing a board that no longer moves.
        await live_server.call(lambda rt: revoked(rt, key))
        widget = page.locator("jifen-leaderboard")
        await expect(widget).to_have_attribute("data-status", "offline")
        await expect(widget.locator(".status")).to_have_text("重新连接中…")


async def revoked(rt: Runtime, key: str) -> None:
    async with rt.engine.begin() as conn:
        assert await revoke_widget_key(conn, key.split("_")[1])


async def test_with_a_member_token_the_leaderboard_shows_the_viewers_own_rank(
    live_server: LiveServer, page: Page
) -> None:
    await live_server.call(seed_demo)
    viewer = (await live_server.graphql(MEMBERS))["d"]["id"]  # 陈伟, 80 points: 4th
    token = mint_token(live_server.settings, f"member:{viewer}", [])
    html = f"""<!doctype html><html><head><meta charset="utf-8"></head><body>
<script type="module" src="{live_server.base}/widgets/leaderboard.js"></script>
<jifen-leaderboard member-token="{token}" member-id="{viewer}" top="2" lang="en">
</jifen-leaderboard></body></html>"""
    with brand_site(html) as brand:
        await page.goto(brand)
        widget = page.locator("jifen-leaderboard")
        you = widget.locator(".you")
        await expect(widget.locator("li[data-member]")).to_have_count(2)
        await expect(widget.locator(f"li[data-member='{viewer}']")).to_have_count(0)
        await expect(you).to_have_attribute("data-rank", "4")
        await expect(you).to_have_text("Your rank: 4 · 80")

        await live_server.graphql(EARN, {"m": viewer, "k": f"own-rank-{uuid.uuid4()}"})
        await expect(you).to_have_attribute("data-rank", "1")
        await expect(widget.locator(f"li[data-member='{viewer}']")).to_have_attribute(
            "data-rank", "1"
        )
    assert page.errors == []  # type: ignore[attr-defined]


async def test_the_member_widget_shows_balance_and_streak_live(
    live_server: LiveServer, page: Page, tmp_path: Path
) -> None:
    await live_server.call(seed_demo)
    member = (await live_server.graphql(MEMBERS))["b"]["id"]  # 李娜
    before = (await live_server.graphql(BALANCE, {"m": member}))["member"]["balance"]["available"]
    token = mint_token(live_server.settings, f"member:{member}", [])
    html = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>会员中心</title></head><body style="font-family: sans-serif; padding: 24px">
<script type="module" src="{live_server.base}/widgets/member.js"></script>
<jifen-member member-token="{token}" member-id="{member}"></jifen-member>
</body></html>"""
    with brand_site(html) as brand:
        await page.goto(brand)
        widget = page.locator("jifen-member")
        balance = widget.locator(".balance")
        streak = widget.locator(".streak")
        await expect(balance).to_have_attribute("data-available", str(before))
        await expect(streak).to_have_attribute("data-streak", "0")
        await expect(streak).to_contain_text("今日未签到")

        await live_server.graphql(EARN, {"m": member, "k": f"member-widget-{uuid.uuid4()}"})
        await expect(balance).to_have_attribute("data-available", str(before + 10_000))
        signed = await live_server.graphql(CHECK_IN, {"m": member})
        assert signed["checkIn"]["signIn"]["streak"] == 1, signed
        await expect(streak).to_have_attribute("data-streak", "1")
        await expect(streak).to_contain_text("今日已签到")
        # The sign-in's own points reach the balance too.
        await expect(balance).not_to_have_attribute("data-available", str(before + 10_000))
        await screenshot(page, "widget-member", tmp_path)
    assert page.errors == []  # type: ignore[attr-defined]


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
