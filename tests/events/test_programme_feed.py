"""programmeEvents over a real WebSocket: every member's events for staff, the latest first,
then live, resumable with ``after``; an event that commits after a larger id is delivered, not
skipped, and in id order; members may not follow the programme."""

from __future__ import annotations

from typing import Any

from app.events.outbox import append_event, member_topic
from tests.events.conftest import LiveApp
from tests.events.test_subscriptions import error_code
from tests.wsclient import GraphQLWs, graphql_ws

FEED = """subscription($after: ID, $recent: Int! = 20) {
  programmeEvents(after: $after, recent: $recent) { id type memberId payload } }"""
WAIT = 30.0  # a hang detector under load, not a timing claim


async def feed(ws: GraphQLWs, op_id: str, count: int) -> list[dict[str, Any]]:
    return [(await ws.next_data(op_id, within=WAIT))["programmeEvents"] for _ in range(count)]


async def test_staff_follow_every_members_events_and_resume(live: LiveApp) -> None:
    a = await live.api.register("pos", "feed-a")
    b = await live.api.register("pos", "feed-b")
    assert (await live.api.earn(a, 10, "feed-a-1"))["__typename"] == "PointsPosted"
    async with graphql_ws(live.ws_url, token=live.staff_token("analyst")) as ws:
        await ws.subscribe("1", FEED, {"recent": 2})
        latest = await feed(ws, "1", 2)  # the two latest: b registered, a earned
        assert [(e["type"], e["memberId"]) for e in latest] == [
            ("member.registered", b),
            ("points.earned", a),
        ]
        await ws.nothing_more(0.3)
        assert (await live.api.earn(b, 25, "feed-b-1"))["__typename"] == "PointsPosted"
        [earned] = await feed(ws, "1", 1)
        assert (earned["type"], earned["memberId"], earned["payload"]["entry"]["amount"]) == (
            "points.earned",
            b,
            25,
        )
    assert (await live.api.earn(a, 5, "feed-a-2"))["__typename"] == "PointsPosted"
    async with graphql_ws(live.ws_url, token=live.staff_token("operator")) as ws:
        await ws.subscribe("2", FEED, {"after": earned["id"]})
        [missed] = await feed(ws, "2", 1)  # what happened while away, nothing before it
        assert (missed["memberId"], missed["payload"]["entry"]["amount"]) == (a, 5)
        await ws.nothing_more(0.3)


async def test_an_event_that_commits_late_is_not_skipped(live: LiveApp) -> None:
    a = await live.api.register("pos", "late-a")
    b = await live.api.register("pos", "late-b")
    async with graphql_ws(live.ws_url, token=live.staff_token("admin")) as ws:
        await ws.subscribe("1", FEED, {"recent": 0})
        await ws.nothing_more(0.3)
        async with live.runtime.engine.begin() as slow:
            # Draws the smaller id, commits last.
            await append_event(slow, member_topic(int(a)), "test.slow", {"n": 1})
            assert (await live.api.earn(b, 7, "late-b-1"))["__typename"] == "PointsPosted"
            await ws.nothing_more(1.0)  # the larger id waits for the smaller one's transaction
        events = await feed(ws, "1", 2)
        assert [(e["type"], e["memberId"]) for e in events] == [
            ("test.slow", a),
            ("points.earned", b),
        ]
        assert int(events[0]["id"]) < int(events[1]["id"])


async def test_members_may_not_follow_the_programme(live: LiveApp) -> None:
    member = await live.api.register("pos", "nosy")
    async with graphql_ws(live.ws_url, token=live.member_token(member)) as ws:
        await ws.subscribe("1", FEED, {})
        assert error_code(await ws.receive()) == "FORBIDDEN"
