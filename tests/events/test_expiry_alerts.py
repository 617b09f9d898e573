"""expiryAlerts over a real WebSocket: live within a second of the reminder job, and again
after reconnecting with ``after``; notifications read and marked read through the API."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from app.jobs import usecases as jobs
from tests.events.conftest import LiveApp
from tests.wsclient import graphql_ws

EXPIRY_ALERTS = """subscription($m: ID!, $after: ID) {
  expiryAlerts(memberId: $m, after: $after) {
    id points validThrough thresholdDays daysLeft notificationId } }"""
NOTIFICATIONS = """query($m: ID!, $unread: Boolean!) {
  notifications(memberId: $m, unreadOnly: $unread) {
    unreadCount edges { node { id kind title points validThrough readAt } } } }"""
MARK = """mutation($m: ID!, $ids: [ID!]) {
  markNotificationsRead(input: {memberId: $m, ids: $ids}) {
    __typename ... on NotificationsMarked { marked unreadCount }
    ... on MutationError { code } } }"""


async def earn_expiring(live: LiveApp, member: str, amount: int, days: int, key: str) -> None:
    expires = live.runtime.clock.now() + timedelta(days=days)
    data = await live.api.admin(
        """mutation($m: ID!, $a: Int!, $k: String!, $e: DateTime!) {
             earnPoints(input: {memberId: $m, amount: $a, reason: "t", idempotencyKey: $k,
                                expiresAt: $e}) { __typename } }""",
        {"m": member, "a": amount, "k": key, "e": expires.isoformat()},
    )
    assert data["earnPoints"]["__typename"] == "PointsPosted"


async def test_alerts_arrive_live_within_a_second_and_again_after_reconnecting(
    live: LiveApp,
) -> None:
    member = await live.api.register("pos", "alerted")
    await earn_expiring(live, member, 300, 29, "k30")
    await earn_expiring(live, member, 120, 6, "k7")
    token = live.member_token(member)

    async with graphql_ws(live.ws_url, token=token) as ws:
        await ws.subscribe("1", EXPIRY_ALERTS, {"m": member})
        await ws.nothing_more(0.3)  # nothing to say yet
        run = await jobs.run_now(live.runtime, "expiry-reminders")
        assert run.result["sent"] == 2
        # Pushed within a second of the job's commit (outbox → relay → Redis → this socket).
        first = (
            await ws.next_data(
                "1",
            )
        )["expiryAlerts"]
        second = (
            await ws.next_data(
                "1",
            )
        )["expiryAlerts"]
        alerts = sorted([first, second], key=lambda a: a["thresholdDays"])
        assert [(a["points"], a["thresholdDays"]) for a in alerts] == [(120, 7), (300, 30)]
        # Running the job again sends nothing: exactly one alert per threshold.
        await jobs.run_now(live.runtime, "expiry-reminders")
        await ws.nothing_more(0.5)

    # Offline: a new reminder is sent while the member is away (23 days later, 7 days left).
    live.runtime.clock.advance(timedelta(days=23))  # type: ignore[attr-defined]
    assert (await jobs.run_now(live.runtime, "expiry-reminders")).result["sent"] == 1
    last_seen = max(int(first["id"]), int(second["id"]))
    async with graphql_ws(live.ws_url, token=token) as ws:
        await ws.subscribe("2", EXPIRY_ALERTS, {"m": member, "after": str(last_seen)})
        missed = (await ws.next_data("2", within=2))["expiryAlerts"]
        assert (missed["points"], missed["thresholdDays"]) == (300, 7)
        await ws.nothing_more(0.3)

    headers = live.api.member_headers(member)
    body = await live.api.call(NOTIFICATIONS, {"m": member, "unread": True}, headers)
    listed = body["data"]["notifications"]
    assert listed["unreadCount"] == 3
    # Newest first: the later 7-day reminder, then the first run's two (7-day one written first).
    assert [e["node"]["points"] for e in listed["edges"]] == [300, 300, 120]
    newest = listed["edges"][0]["node"]["id"]
    marked = await live.api.call(MARK, {"m": member, "ids": [newest]}, headers)
    assert marked["data"]["markNotificationsRead"] == {
        "__typename": "NotificationsMarked",
        "marked": 1,
        "unreadCount": 2,
    }
    other = await live.api.register("pos", "nosy")
    refused = await live.api.call(MARK, {"m": member, "ids": None}, live.api.member_headers(other))
    assert refused["data"]["markNotificationsRead"]["code"] == "FORBIDDEN"
    body = await live.api.call(NOTIFICATIONS, {"m": member, "unread": True}, headers)
    assert body["data"]["notifications"]["unreadCount"] == 2
    await asyncio.sleep(0)
