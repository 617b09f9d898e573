"""The console's programme pages in a real Chromium against a real server: tiers, sign-in
schedules, tasks and challenges, the mall (items and stock, flash sales, lotteries with their
odds, a member's orders), jobs and alerts show what the API says; an operator resends a webhook
delivery to a real receiver, and an analyst may not."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.async_api import Page, expect

from app.analytics.alerts import Alert, fire
from app.auth.principal import Role
from app.db import unit_of_work
from app.runtime import Runtime
from app.seed import seed_demo
from tests.browser.conftest import LiveServer, screenshot
from tests.browser.test_console import sign_in
from tests.eventually import eventually
from tests.webhooks.receiver import Receiver

PROGRAMME = """{ tiers { code } signInSchedules { code } tasks { code leaderboard }
  mallItems(first: 100) { edges { node { id code flash stockLeft } } }
  lotteryPools { code prizes { code probability } } jobs { name }
  member: memberByRef(channel: "app", externalRef: "app-user-42") { id } }"""
REDEEM = """mutation($m: ID!, $i: ID!, $k: String!) { placeRedemption(input: {memberId: $m,
  itemId: $i, idempotencyKey: $k}) { __typename
  ... on RedemptionPayload { redemption { id status } } ... on MutationError { code message } } }"""


FLASH = """mutation($from: DateTime!, $to: DateTime!) { createMallItem(input: {item: {
  code: "flash-umbrella", name: "秒杀 雨伞", kind: GOODS, pointsPrice: 99, flash: true,
  saleStartsAt: $from, saleEndsAt: $to}, stock: 20}) {
  __typename ... on MutationError { code } } }"""


async def an_alert(rt: Runtime) -> None:
    async with unit_of_work(rt.engine) as conn:
        surge = Alert("alert.redemption_surge", "item:coffee", "w1", {"orders": 40})
        await fire(conn, [surge], rt.clock.now())


async def test_the_programme_pages_show_what_the_api_says(
    live_server: LiveServer, page: Page, tmp_path: Path
) -> None:
    await live_server.call(seed_demo)
    await live_server.call(an_alert)
    await live_server.add_staff("wang.fang", Role.ADMIN)
    now = datetime.now(UTC)
    window = {"from": now.isoformat(), "to": (now + timedelta(days=1)).isoformat()}
    flash = await live_server.graphql(FLASH, window)
    assert flash["createMallItem"]["__typename"] == "MallItemPayload", flash
    api = await live_server.graphql(PROGRAMME)
    items = [edge["node"] for edge in api["mallItems"]["edges"]]
    member = api["member"]["id"]
    stocked = next(x for x in items if not x["flash"] and x["stockLeft"])
    placed = await live_server.graphql(
        REDEEM, {"m": member, "i": stocked["id"], "k": f"pages-{uuid.uuid4()}"}
    )
    order = placed["placeRedemption"]["redemption"]

    await sign_in(page, live_server, "wang.fang")
    await expect(page.locator("#who")).to_contain_text("wang.fang")
    await page.click("#nav-tiers")
    await expect(page.locator("#tiers tbody tr")).to_have_count(len(api["tiers"]))

    await page.click("#nav-engagement")
    await expect(page.locator("#schedules [data-schedule]")).to_have_count(
        len(api["signInSchedules"])
    )
    await expect(page.locator("#tasks tbody tr")).to_have_count(len(api["tasks"]))
    challenges = [x for x in api["tasks"] if x["leaderboard"]]
    await expect(page.locator("#challenges [data-challenge]")).to_have_count(len(challenges))

    # Every member's orders, newest first, then by state; then one member's.
    await page.goto(f"{live_server.base}/console#/mall")
    listed = page.locator(f"#orders [data-order='{order['id']}']")
    await expect(listed.locator(".order-member")).to_have_text(member)
    await page.select_option("#orders-status", "CANCELLED")
    await expect(listed).to_have_count(0)
    await page.select_option("#orders-status", order["status"])
    await expect(listed).to_contain_text(order["status"])

    await page.goto(f"{live_server.base}/console#/mall?member={member}")
    await expect(page.locator("#mall-items tbody tr")).to_have_count(
        len([x for x in items if not x["flash"]])
    )
    await expect(page.locator("#flash-sales tbody tr")).to_have_count(
        len([x for x in items if x["flash"]])
    )
    await expect(page.locator("#flash-sales [data-item='flash-umbrella'] .stock")).to_have_text(
        "20 / 20"
    )
    for pool in api["lotteryPools"]:
        for prize in pool["prizes"]:
            shown = page.locator(f"[data-pool='{pool['code']}'] [data-prize='{prize['code']}']")
            await expect(shown.locator(".odds")).to_have_text(prize["probability"])
    await expect(page.locator(f"#orders [data-order='{order['id']}']")).to_contain_text(
        order["status"]
    )
    await screenshot(page, "console-mall", tmp_path)

    await page.click("#nav-jobs")
    await expect(page.locator("#jobs tbody tr")).to_have_count(len(api["jobs"]))
    await page.locator("[data-job='hold-timeouts'] .job-run").click()  # an admin runs one now
    await expect(page.locator("[data-job='hold-timeouts'] .job-status")).to_contain_text(
        "succeeded"
    )

    await page.click("#nav-alerts")
    alert = page.locator("#alerts li[data-type='alert.redemption_surge']")
    await expect(alert).to_contain_text("兑换激增 · item:coffee")
    assert page.errors == []  # type: ignore[attr-defined]


CREATE_ENDPOINT = """mutation($url: String!) { createWebhookEndpoint(input: {url: $url,
  eventTypes: ["points.earned"]}) { __typename
  ... on WebhookSecretPayload { secret } ... on MutationError { code message } } }"""
EARN = """mutation($m: ID!, $k: String!) { earnPoints(input: {memberId: $m, amount: 30,
  reason: "webhook", idempotencyKey: $k}) { __typename } }"""


async def test_an_operator_resends_a_delivery_and_an_analyst_may_not(
    webhook_server: LiveServer, page: Page, tmp_path: Path
) -> None:
    server = webhook_server
    with Receiver() as receiver:
        await server.call(seed_demo)
        await server.add_staff("wang.fang", Role.OPERATOR)
        await server.add_staff("zhao.analyst", Role.ANALYST)
        created = await server.graphql(CREATE_ENDPOINT, {"url": receiver.url})
        receiver.secrets.append(created["createWebhookEndpoint"]["secret"])
        member = (await server.graphql(PROGRAMME))["member"]["id"]
        await server.graphql(EARN, {"m": member, "k": f"hook-{uuid.uuid4()}"})
        # Delivered by the server's own sender to the receiver (a hang detector, not a timing).
        [first] = await eventually(receiver.delivered, within=60)
        await resend_from_the_console(server, receiver, page, tmp_path, first.webhook_id)


async def resend_from_the_console(
    server: LiveServer, receiver: Receiver, page: Page, tmp_path: Path, webhook_id: str
) -> None:
    await sign_in(page, server, "wang.fang")
    await expect(page.locator("#who")).to_contain_text("wang.fang")
    await page.click("#nav-webhooks")
    row = page.locator(".deliveries tbody tr")
    await expect(row).to_have_count(1)
    await expect(row.locator(".delivery-status")).to_have_text("delivered")
    await row.locator(".resend").click()
    await expect(page.locator("#webhook-message")).to_contain_text("已重新发送")
    # The same message again: the same webhook-id (the receiver's dedup key), a second time.
    first, again = await eventually(
        lambda: receiver.delivered()[1:] and receiver.delivered(), within=60
    )
    assert again.webhook_id == first.webhook_id == webhook_id and again.body == first.body
    await screenshot(page, "console-webhooks", tmp_path)

    await page.click("#signout")
    await sign_in(page, server, "zhao.analyst")
    await expect(page.locator("#who")).to_contain_text("analyst")
    await page.click("#nav-webhooks")
    await expect(page.locator(".deliveries tbody tr")).to_have_count(1)
    await expect(page.locator(".resend")).to_have_count(0)  # the page offers no resend
    message_id = await page.locator(".deliveries tbody tr").first.get_attribute("data-message")
    answer = await page.evaluate(
        """async (id) => {
            const session = await (await fetch("/console/session")).json();
            const response = await fetch("/graphql", {method: "POST", credentials: "same-origin",
              headers: {"content-type": "application/json", "x-csrf-token": session.csrfToken},
              body: JSON.stringify({query: `mutation { resendWebhookMessage(input:
                {messageId: "${id}"}) { __typename ... on MutationError { code } } }`})});
            return (await response.json()).data.resendWebhookMessage; }""",
        message_id,
    )
    assert answer == {"__typename": "MutationError", "code": "FORBIDDEN"}
    assert len(receiver.delivered()) == 2  # nothing sent for the analyst
    assert page.errors == []  # type: ignore[attr-defined]
