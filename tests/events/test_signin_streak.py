"""The live sign-in streak over a real WebSocket: now, then after every check-in."""

from __future__ import annotations

import time
from datetime import timedelta

from app.engagement import usecases
from app.ledger.models import Actor
from tests.events.conftest import LiveApp
from tests.wsclient import graphql_ws

STREAK = """subscription($m: ID!) {
  signInStreak(memberId: $m) { streak signedInToday nextReward { points } } }"""
CHECK_IN = """mutation($m: ID!) { checkIn(input: {memberId: $m}) {
  __typename ... on CheckedIn { signIn { streak points } } } }"""


async def test_a_subscriber_sees_each_check_in_within_a_second(live: LiveApp) -> None:
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
            pushed = (await ws.next_data("s", within=1.0))["signInStreak"]
            assert time.monotonic() - started < 1.0
            assert pushed["streak"] == day and pushed["signedInToday"] is True
            # After day 6, the next sign-in is the 7th: 5 + 20.
            assert pushed["nextReward"]["points"] == (25 if day == 6 else 5)
            live.runtime.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
