"""The console in a real Chromium against a real server: sign in, the overview's KPIs equal the
API's, a member's balance moves on the page when points move, and what a signed-out visitor and
an analyst may not do is refused."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

from playwright.async_api import Page, expect

from app.analytics.rebuild import rebuild
from app.auth.principal import Role
from app.seed import seed_demo
from tests.browser.conftest import PASSWORD, LiveServer, screenshot

KPIS = """query($from: Date!, $to: Date!) { kpis(from: $from, to: $to, granularity: DAY) {
  outstanding members liability totals { issued redeemed expired } } }"""
DEMO_MEMBER = """{ memberByRef(channel: "mini-program", externalRef: "wx-demo-0001") {
  id balance { available } } }"""
EARN = """mutation($m: ID!, $k: String!) { earnPoints(input: {memberId: $m, amount: 300,
  reason: "elsewhere", idempotencyKey: $k}) { __typename } }"""


def number(text: str) -> str:
    return re.sub(r"[,\\s]", "", text)


async def sign_in(page: Page, server: LiveServer, name: str, password: str = PASSWORD) -> None:
    await page.goto(f"{server.base}/console")
    await page.fill("#signin-name", name)
    await page.fill("#signin-password", password)
    await page.click("#signin button[type=submit]")


async def test_sign_in_then_the_overview_shows_the_apis_kpis(
    live_server: LiveServer, page: Page, tmp_path: Path
) -> None:
    await live_server.call(seed_demo)
    await live_server.call(rebuild)  # the rollups the KPIs read (the worker keeps them)
    await live_server.add_staff("wang.fang", Role.OPERATOR)

    await page.goto(f"{live_server.base}/console")
    await expect(page.locator("#signin")).to_contain_text("登录")  # Chinese by default
    await sign_in(page, live_server, "wang.fang", "not the password")
    await expect(page.locator("#signin-error")).to_have_text("用户名或密码错误")

    await sign_in(page, live_server, "wang.fang")
    await expect(page.locator("#who")).to_contain_text("wang.fang")
    cards = page.locator("[data-kpi]")
    await expect(cards).to_have_count(7)
    period = page.locator("#kpi-range")
    day_from, day_to = (
        await period.get_attribute("data-from"),
        await period.get_attribute("data-to"),
    )
    kpis = (await live_server.graphql(KPIS, {"from": day_from, "to": day_to}))["kpis"]
    shown = {
        key: number(await page.locator(f"[data-kpi={key}] .value").inner_text())
        for key in ("issued", "redeemed", "expired", "outstanding", "membersCount")
    }
    assert shown == {
        "issued": str(kpis["totals"]["issued"]),
        "redeemed": str(kpis["totals"]["redeemed"]),
        "expired": str(kpis["totals"]["expired"]),
        "outstanding": str(kpis["outstanding"]),
        "membersCount": str(kpis["members"]),
    }
    assert kpis["totals"]["issued"] > 0  # the demo's points: the comparison means something
    await expect(page.locator("#chart-flows svg")).to_have_count(
        1
    )  # ECharts drew, from local files
    await expect(page.locator("#live-board tbody tr").first).to_be_visible()
    # The programme's live feed: an earn made elsewhere shows at the top, without a reload.
    feed = page.locator("#live-feed li")
    await expect(feed.first).to_be_visible()  # the latest events, at once
    member = (await live_server.graphql(DEMO_MEMBER))["memberByRef"]["id"]
    await live_server.graphql(EARN, {"m": member, "k": f"feed-{uuid.uuid4()}"})
    await expect(feed.first).to_contain_text(f"#{member} 获得积分 +300 · elsewhere")
    await screenshot(page, "console-overview", tmp_path)

    await page.click("#language")
    await expect(page.locator("#nav-overview")).to_have_text("Overview")
    await expect(page.locator("[data-kpi=issued] .label")).to_have_text("Issued")
    assert page.errors == []  # type: ignore[attr-defined]


async def test_a_member_found_by_ref_shows_balance_changes_at_once(
    live_server: LiveServer, page: Page, tmp_path: Path
) -> None:
    await live_server.call(seed_demo)
    await live_server.add_staff("wang.fang", Role.OPERATOR)
    member = (await live_server.graphql(DEMO_MEMBER))["memberByRef"]
    before = member["balance"]["available"]

    await sign_in(page, live_server, "wang.fang")
    await page.click("#nav-members")
    await page.fill("#search-channel", "mini-program")
    await page.fill("#search-ref", "wx-demo-0001")
    await page.click("#member-search button")
    balance = page.locator("#balance-available")
    await expect(balance).to_have_text(f"{before:,}")
    await expect(page.locator("#history tbody tr").first).to_be_visible()

    await page.fill("#adjust-amount", "50")
    await page.fill("#adjust-reason", "补偿 门店系统故障")
    await page.click("#adjust-form button")
    await expect(page.locator("#action-message")).to_contain_text("已完成")
    await expect(balance).to_have_text(f"{before + 50:,}")

    # Points moved by someone else, through the API: the page follows, without a reload.
    await live_server.graphql(EARN, {"m": member["id"], "k": f"elsewhere-{uuid.uuid4()}"})
    await expect(balance).to_have_text(f"{before + 350:,}")
    await expect(page.locator("#history tbody tr").first).to_contain_text("elsewhere")
    await screenshot(page, "console-member", tmp_path)

    await page.click("#status-toggle")
    await expect(page.locator("#member-status")).to_have_text("FROZEN")
    await page.click("#status-toggle")
    await expect(page.locator("#member-status")).to_have_text("ACTIVE")
    assert page.errors == []  # type: ignore[attr-defined]


async def test_members_are_found_by_phone(live_server: LiveServer, page: Page) -> None:
    await live_server.call(seed_demo)
    await live_server.add_staff("zhao.analyst", Role.ANALYST)
    ids = await live_server.graphql(
        """{ a: memberByRef(channel: "pos", externalRef: "pos-card-8800") { id }
             b: memberByRef(channel: "app", externalRef: "app-user-42") { id }
             c: memberByRef(channel: "e-commerce", externalRef: "tmall-777") { id } }"""
    )
    a, b, c = (ids[k]["id"] for k in "abc")
    for member, phone in ((a, "13800138000"), (b, "13800138000"), (c, "13900139000")):
        await live_server.graphql(
            """mutation($m: ID!, $p: String!) { updateMemberProfile(input: {memberId: $m,
                 phone: $p}) { __typename } }""",
            {"m": member, "p": phone},
        )
    await sign_in(page, live_server, "zhao.analyst")  # reading: an analyst may search
    await page.click("#nav-members")
    await page.fill("#search-phone", "13900139000")
    await page.click("#member-search button")
    await expect(page.locator("#member-name")).to_have_text("陈伟")

    await page.fill("#search-phone", "13800138000")  # shared by two: both listed
    await page.click("#member-search button")
    matches = page.locator("#phone-matches tbody tr")
    await expect(matches).to_have_count(2)
    await page.locator(".phone-match", has_text=f"#{b}").click()
    await expect(page.locator("#member-name")).to_have_text("王芳")
    assert page.errors == []  # type: ignore[attr-defined]


async def test_a_signed_out_visitor_and_an_analyst_are_refused(
    live_server: LiveServer, page: Page
) -> None:
    await live_server.call(seed_demo)
    await live_server.add_staff("zhao.analyst", Role.ANALYST)
    member_id = (await live_server.graphql(DEMO_MEMBER))["memberByRef"]["id"]
    adjust = f"""mutation {{ adjustPoints(input: {{memberId: "{member_id}", amount: 9,
      reason: "x", idempotencyKey: "analyst-try"}}) {{
        __typename ... on MutationError {{ code }} }} }}"""

    await page.goto(f"{live_server.base}/console#/members")
    await expect(page.locator("#signin")).to_be_visible()  # signed out: only the sign-in form
    # The page's own fetch, signed out: the API refuses the read.
    code = await page.evaluate(
        """async (query) => (await (await fetch("/graphql", {method: "POST",
            credentials: "same-origin", headers: {"content-type": "application/json"},
            body: JSON.stringify({query})})).json()).errors[0].extensions.code""",
        "{ jobs { name } }",
    )
    assert code == "UNAUTHENTICATED"

    await sign_in(page, live_server, "zhao.analyst")
    await expect(page.locator("#who")).to_contain_text("analyst")
    await page.goto(f"{live_server.base}/console#/members?id={member_id}")
    await expect(page.locator("#balance-available")).to_be_visible()
    await expect(page.locator("#adjust-form")).to_have_count(0)  # the console offers no writes
    await page.click("#nav-rules")
    await expect(page.locator("#rules tr", has_text="1 point per CNY")).to_have_count(1)
    await expect(page.locator("#rule-new")).to_have_count(0)
    await expect(page.locator(".rule-edit")).to_have_count(0)
    # And the API refuses the write even when the page is bypassed with the session's token.
    answer = await page.evaluate(
        """async (query) => {
            const session = await (await fetch("/console/session")).json();
            const response = await fetch("/graphql", {method: "POST", credentials: "same-origin",
              headers: {"content-type": "application/json", "x-csrf-token": session.csrfToken},
              body: JSON.stringify({query})});
            return (await response.json()).data.adjustPoints; }""",
        adjust,
    )
    assert answer == {"__typename": "MutationError", "code": "FORBIDDEN"}


async def test_edit_a_rule_preview_a_basket_and_save(
    live_server: LiveServer, page: Page, tmp_path: Path
) -> None:
    await live_server.call(seed_demo)
    await live_server.add_staff("wang.fang", Role.OPERATOR)
    await sign_in(page, live_server, "wang.fang")
    await page.click("#nav-rules")
    base = page.locator("#rules tr", has_text="1 point per CNY")
    await expect(base.locator(".rule-version")).to_have_text("1")

    await page.click("#preview-form button")
    before = page.locator("#preview-result tr", has_text="1 point per CNY")
    await expect(before.locator("td.num")).to_have_text("100")
    await expect(page.locator("#preview-kind")).to_have_text("已保存的规则")

    await base.locator(".rule-edit").click()
    spec = page.locator("#rule-spec")
    edited = await page.evaluate(
        """(text) => { const rule = JSON.parse(text); rule.name = "2 points per CNY";
             rule.effect.rate = "2"; return JSON.stringify(rule, null, 2); }""",
        await spec.input_value(),
    )
    await spec.fill(edited)
    # The draft previewed before saving: the edited rule in place of the saved one.
    await page.click("#preview-form button")
    await expect(page.locator("#preview-kind")).to_have_text("草稿预览 · 未保存")
    draft = page.locator("#preview-result tr", has_text="2 points per CNY")
    await expect(draft.locator("td.num")).to_have_text("200")
    await expect(page.locator("#preview-result tr", has_text="1 point per CNY")).to_have_count(0)
    await expect(base.locator(".rule-version")).to_have_text("1")  # nothing saved yet
    await screenshot(page, "console-rules", tmp_path)

    await page.click("#rule-save")
    await expect(page.locator("#rules-message")).to_contain_text("已保存")
    saved = page.locator("#rules tr", has_text="2 points per CNY")
    await expect(saved.locator(".rule-version")).to_have_text("2")

    await page.click("#preview-form button")
    after = page.locator("#preview-result tr", has_text="2 points per CNY")
    await expect(after.locator("td.num")).to_have_text("200")
    await expect(page.locator("#preview-kind")).to_have_text("已保存的规则")
    await saved.locator(".rule-edit").click()
    await expect(page.locator("#rule-versions tbody tr")).to_have_count(2)  # the version history
    assert page.errors == []  # type: ignore[attr-defined]


async def test_create_a_rule_from_the_console_after_previewing_its_draft(
    live_server: LiveServer, page: Page
) -> None:
    await live_server.call(seed_demo)
    await live_server.add_staff("wang.fang", Role.OPERATOR)
    await sign_in(page, live_server, "wang.fang")
    await page.click("#nav-rules")
    await expect(page.locator("#rules tr", has_text="1 point per CNY")).to_have_count(1)
    rows = await page.locator("#rules tbody tr").count()

    await page.click("#rule-new")
    new_rule = {
        "name": "乳品加赠 15 分",
        "trigger": "PURCHASE",
        "effect": {"kind": "FIXED", "points": 15},
        "conditions": {"categories": ["dairy"]},
    }
    await page.fill("#rule-spec", json.dumps(new_rule, ensure_ascii=False))
    await page.click("#preview-form button")  # the basket is dairy
    drafted = page.locator("#preview-result tr", has_text="乳品加赠 15 分")
    await expect(drafted.locator("td.num")).to_have_text("15")
    await expect(page.locator("#rules tr", has_text="乳品加赠")).to_have_count(0)

    await page.fill("#rule-spec", json.dumps({**new_rule, "effect": {"kind": "FIXED"}}))
    await page.click("#rule-save")  # a bad rule: the API's typed error, nothing saved
    await expect(page.locator("#rule-message")).to_contain_text("INVALID_INPUT")
    await page.fill("#rule-spec", json.dumps(new_rule, ensure_ascii=False))
    await page.click("#rule-save")
    await expect(page.locator("#rules-message")).to_contain_text("乳品加赠 15 分 v1")
    await expect(page.locator("#rules tbody tr")).to_have_count(rows + 1)
    created = page.locator("#rules tr", has_text="乳品加赠 15 分")
    await expect(created.locator(".rule-version")).to_have_text("1")
    assert page.errors == []  # type: ignore[attr-defined]
