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
