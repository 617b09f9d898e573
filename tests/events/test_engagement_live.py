"""Live engagement over a real WebSocket: the sign-in streak and a challenge board."""

from __future__ import annotations

import time
from datetime import timedelta

from app.earning import usecases as earning
from app.engagement import usecases
from app.engagement.demo import seed_engagement
from app.ledger.models import Actor
from app.tiers.policy import DEMO_TIERS
from app.tiers.usecases import install_tiers
from tests.events.conftest import LiveApp
from tests.wsclient import graphql_ws

STREAK = """subscription($m: ID!) {
  signInStreak(memberId: $m) { streak signedInToday nextReward { points } } }"""
CHECK_IN = """mutation($m: ID!) { checkIn(input: {memberId: $m}) {
  __typename ... on CheckedIn { signIn { streak points } } } }"""


async def test_a_subscriber_sees_each_check_in(live: LiveApp) -> None:
    await usecases.seed_schedules(live.runtime, Actor("staff:alice"))
    member = await live.api.register("pos", "a")
    headers = live.api.member_headers(member)
    async with graphql_ws(live.ws_url, token=live.member_token(member)) as ws:
        await ws.subscribe("s", STREAK, {"m": member})
        first = (await ws.next_data("s"))["signInStreak"]
        assert first == {"streak": 0, "signedInToday": False, "nextReward": {"points": 5}}
        for day in range(1, 8):
            started = time.monotonic()
            body = await live.api.call(CHECK_IN, {"m": member}, headers)
            assert body["data"]["checkIn"]["signIn"]["streak"] == day, body
            pushed = (
                await ws.next_data(
                    "s",
                )
            )["signInStreak"]
            assert time.monotonic() - started < 1.0
            assert pushed["streak"] == day and pushed["signedInToday"] is True
            # After day 6, the next sign-in is the 7th: 5 + 20.
            assert pushed["nextReward"]["points"] == (25 if day == 6 else 5)
            live.runtime.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]


BOARD = """subscription($m: ID!) {
  challengeBoard(task: "monthly-points", memberId: $m) {
    period top { rank id progress } member { rank } } }"""
PURCHASE = """mutation($m: ID!, $o: String!, $a: Decimal!) { recordPurchase(input: {memberId: $m,
  channel: "pos", orderId: $o, lines: [{sku: "s", category: "c", quantity: 1, amount: $a}]}) {
  __typename } }"""


async def test_a_challenge_board_pushes_progress_live(live: LiveApp) -> None:
    await install_tiers(live.runtime, DEMO_TIERS)
    await seed_engagement(live.runtime, Actor("staff:alice"))
    await earning.create_rule(
        live.runtime,
        Actor("staff:alice"),
        {"name": "1 a CNY", "trigger": "purchase", "effect": {"kind": "per_unit", "rate": "1"}},
    )
    a = await live.api.register("pos", "a")
    b = await live.api.register("pos", "b")
    staff = live.api.staff_headers("operator")
    async with graphql_ws(live.ws_url, token=live.member_token(a)) as ws:
        await ws.subscribe("c", BOARD, {"m": a})
        first = (await ws.next_data("c"))["challengeBoard"]
        assert first == {"period": "2026-11", "top": [], "member": None}

        await live.api.call(PURCHASE, {"m": b, "o": "b1", "a": "300"}, staff)
        pushed = (
            await ws.next_data(
                "c",
            )
        )["challengeBoard"]
        assert pushed["top"] == [{"rank": 1, "id": b, "progress": "300"}]
        await live.api.call(PURCHASE, {"m": a, "o": "a1", "a": "500"}, staff)
        pushed = (
            await ws.next_data(
                "c",
            )
        )["challengeBoard"]
        assert [row["id"] for row in pushed["top"]] == [a, b]
        assert pushed["member"] == {"rank": 1}
