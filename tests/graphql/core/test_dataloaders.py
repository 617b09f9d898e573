"""DataLoaders: reading many members with their balances costs a fixed number of statements."""

from __future__ import annotations

from tests.graphql.conftest import Api
from tests.graphql.statements import counting_statements


def members_query(ids: list[str]) -> str:
    fields = " ".join(
        f'm{i}: member(id: "{member_id}") {{ id name balance {{ available total }} }}'
        for i, member_id in enumerate(ids)
    )
    return "{ " + fields + " }"


async def test_twenty_members_with_balances_take_two_statements(api: Api) -> None:
    ids = [await api.register("pos", f"count-{i}") for i in range(20)]
    for member_id in ids[:5]:
        await api.earn(member_id, 10, f"k-{member_id}")
    headers = api.staff_headers("analyst")

    with counting_statements(api) as one:
        await api.call(members_query(ids[:1]), None, headers)
    with counting_statements(api) as twenty:
        body = await api.call(members_query(ids), None, headers)

    assert "errors" not in body
    assert [body["data"][f"m{i}"]["balance"]["total"] for i in range(20)] == [10] * 5 + [0] * 15
    # One statement for the members, one for their balances: however many are asked for.
    assert len(twenty) == len(one) == 2, "\n\n".join(twenty)
