"""A widget key reads its one board, live, and nothing else."""

from __future__ import annotations

from app.auth.widgetkeys import create_widget_key, revoke_widget_key
from tests.eventually import eventually
from tests.graphql.conftest import Api

BOARD = """query($board: String!, $m: ID) { leaderboard(board: $board, memberId: $m) {
  size top { rank displayName points } } }"""


async def widget_headers(api: Api) -> tuple[dict[str, str], str]:
    async with api.runtime.engine.begin() as conn:
        key = await create_widget_key(conn, "points-earned")
    return {"X-Api-Key": key}, key.split("_")[1]


async def test_a_widget_key_reads_its_board_with_masked_names(api: Api) -> None:
    data = await api.admin(
        """mutation { registerMember(input: {channel: "pos", externalRef: "widget-1",
             name: "张小明"}) { ... on MemberRegistered { member { id } } } }"""
    )
    member = data["registerMember"]["member"]["id"]
    await api.earn(member, 120, "widget-earn")
    headers, _ = await widget_headers(api)

    async def projected() -> bool:
        body = await api.call(BOARD, {"board": "points-earned"}, headers)
        assert "errors" not in body, body
        return bool(body["data"]["leaderboard"]["size"] == 1)

    await eventually(projected)
    body = await api.call(BOARD, {"board": "points-earned"}, headers)
    assert body["data"]["leaderboard"]["top"] == [
        {"rank": 1, "displayName": "张*明", "points": 120}
    ]


async def test_a_widget_key_may_not_read_anything_else(api: Api) -> None:
    member = await api.register("pos", "widget-2")
    headers, prefix = await widget_headers(api)
    refused = [
        await api.call(BOARD, {"board": "points-earned", "m": member}, headers),
        await api.call(BOARD, {"board": "no-such-board"}, headers),
        await api.call('{ member(id: "1") { id } }', {}, headers),
        await api.call("{ jobs { name } }", {}, headers),
    ]
    for body in refused:
        assert body["errors"][0]["extensions"]["code"] in {"FORBIDDEN", "INVALID_INPUT"}, body
    assert refused[0]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert refused[2]["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    async with api.runtime.engine.begin() as conn:
        assert await revoke_widget_key(conn, prefix)
    response = await api.post(BOARD, {"board": "points-earned"}, headers)
    assert response.status_code == 401
