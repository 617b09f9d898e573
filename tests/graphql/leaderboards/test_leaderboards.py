"""Leaderboards through the API: top N and own rank, and refusals."""

from __future__ import annotations

from typing import Any

from app.leaderboards.projector import apply_pending
from tests.graphql.conftest import Api

BOARD = """query($m: ID, $top: Int!, $board: String!) {
  leaderboard(board: $board, top: $top, memberId: $m, neighbours: 1) {
    board period periodId size
    top { rank memberId points }
    member { rank points }
    neighbours { rank memberId } } }"""


async def board(api: Api, headers: dict[str, str], **variables: Any) -> dict[str, Any]:
    values = {"m": None, "top": 10, "board": "points-earned", **variables}
    return await api.call(BOARD, values, headers)


async def test_top_and_own_rank_follow_the_points_earned(api: Api) -> None:
    members = [await api.register("pos", f"runner-{n}") for n in range(3)]
    for member, amount in zip(members, (50, 300, 120), strict=True):
        await api.earn(member, amount, f"earn-{member}")
    await apply_pending(api.runtime)

    body = await board(api, api.member_headers(members[2]), m=members[2])

    assert "errors" not in body, body
    data = body["data"]["leaderboard"]
    assert data["size"] == 3 and data["period"] == "monthly" and data["periodId"] == "2026-11"
    assert [(s["memberId"], s["points"]) for s in data["top"]] == [
        (members[1], 300),
        (members[2], 120),
        (members[0], 50),
    ]
    assert data["member"] == {"rank": 2, "points": 120}
    assert [n["memberId"] for n in data["neighbours"]] == [members[1], members[2], members[0]]


async def test_bad_board_requests_are_clear_errors(api: Api) -> None:
    mine = await api.register("pos", "me")
    other = await api.register("pos", "other")
    headers = api.member_headers(mine)

    unknown = await board(api, headers, board="no-such-board")
    too_many = await board(api, headers, top=10_000)
    someone_else = await board(api, headers, m=other)
    anonymous = await board(api, {})

    assert unknown["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert too_many["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert someone_else["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
