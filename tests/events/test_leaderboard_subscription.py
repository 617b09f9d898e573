"""The live leaderboard: a frame at once, then one when the board changes."""

from __future__ import annotations

from tests.events.conftest import LiveApp
from tests.wsclient import graphql_ws

LIVE_BOARD = """subscription($m: ID!) {
  leaderboard(top: 3, memberId: $m) { size top { rank memberId points } member { rank } } }"""


async def test_a_live_board_pushes_a_frame_when_the_board_changes(live: LiveApp) -> None:
    member = await live.api.register("pos", "climber")
    async with graphql_ws(live.ws_url, token=live.member_token(member)) as ws:
        await ws.subscribe("1", LIVE_BOARD, {"m": member})
        first = await ws.receive()
        assert first["payload"]["data"]["leaderboard"] == {"size": 0, "top": [], "member": None}

        await live.api.earn(member, 40, "climb")

        frame = await ws.receive(within=5)
        assert frame["payload"]["data"]["leaderboard"] == {
            "size": 1,
            "top": [{"rank": 1, "memberId": member, "points": 40}],
            "member": {"rank": 1},
        }


async def test_an_unknown_board_or_a_huge_top_is_refused_and_the_server_stays_up(
    live: LiveApp,
) -> None:
    member = await live.api.register("pos", "asker")
    asks = {
        "NOT_FOUND": 'subscription { leaderboard(board: "nope") { size } }',
        "INVALID_INPUT": "subscription { leaderboard(top: 10000) { size } }",
    }
    async with graphql_ws(live.ws_url, token=live.member_token(member)) as ws:
        for n, (code, query) in enumerate(asks.items()):
            await ws.subscribe(str(n), query, {})
            answer = await ws.receive()
            while answer.get("id") != str(n) or answer["type"] == "complete":
                answer = await ws.receive()  # the previous refusal's `complete`
            assert answer["payload"]["errors"][0]["extensions"]["code"] == code, answer
    healthy = await live.api.client.get("/readyz")
    assert healthy.status_code == 200
