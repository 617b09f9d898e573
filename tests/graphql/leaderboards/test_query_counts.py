"""A board reads in a fixed number of statements, however many standings it shows."""

from __future__ import annotations

from tests.eventually import eventually
from tests.graphql.conftest import Api
from tests.graphql.statements import assert_same_statements

BOARD = """query($m: ID!, $n: Int!) { leaderboard(top: $n, memberId: $m, neighbours: 2) {
  size top { rank memberId points } member { rank } neighbours { rank } } }"""


async def test_a_board_takes_the_same_statements_for_the_top_one_or_four(api: Api) -> None:
    members = [await api.register("pos", f"board-{n}") for n in range(4)]
    for n, member in enumerate(members):
        await api.earn(member, 10 * (n + 1), f"board-{n}")
    headers = api.staff_headers("analyst")

    async def projected() -> bool:
        body = await api.call(BOARD, {"m": members[0], "n": 4}, headers)
        return bool(body["data"]["leaderboard"]["size"] == 4)

    await eventually(projected)
    await assert_same_statements(
        api, BOARD, {"m": members[0], "n": 1}, {"m": members[0], "n": 4}, headers
    )
