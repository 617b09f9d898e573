"""The Member type's lists read in a fixed number of statements, however long the page."""

from __future__ import annotations

from tests.graphql.conftest import Api
from tests.graphql.statements import assert_same_statements, counting_statements

PAGES = """query($m: ID!, $n: Int!) { member(id: $m) {
  lots(first: $n) { edges { cursor node { id remaining } } pageInfo { hasNextPage } }
  history(first: $n) { edges { cursor node { id amount breakdown { points } } }
    pageInfo { endCursor } } } }"""
LISTS = """query($m: ID!) { member(id: $m) {
  holds(activeOnly: false) { id amount }
  channelRefs { channel externalRef }
  statusHistory { fromStatus toStatus }
  tierHistory { toTier } } }"""
HOLD = """mutation($m: ID!, $k: String!) { holdPoints(input: {memberId: $m, amount: 1,
  reason: "count", idempotencyKey: $k}) { __typename } }"""
LINK = """mutation($m: ID!, $r: String!) { linkChannelRef(input: {memberId: $m, channel: "app",
  externalRef: $r}) { __typename } }"""
STATUS = """mutation($m: ID!, $s: MemberStatus!) { setMemberStatus(input: {memberId: $m,
  status: $s, reason: "count"}) { __typename } }"""


async def test_lots_and_history_pages_take_the_same_statements_for_one_row_or_six(
    api: Api,
) -> None:
    member = await api.register("pos", "pages")
    for n in range(6):
        await api.earn(member, 10, f"earn-{n}")
    await assert_same_statements(
        api, PAGES, {"m": member, "n": 1}, {"m": member, "n": 6}, api.staff_headers("analyst")
    )


async def test_holds_refs_and_status_changes_take_the_same_statements_for_one_or_four(
    api: Api,
) -> None:
    few = await api.register("pos", "few")
    many = await api.register("pos", "many")
    for member in (few, many):
        await api.earn(member, 100, f"seed-{member}")
    await api.admin(HOLD, {"m": few, "k": "hold-few"})
    await api.admin(STATUS, {"m": few, "s": "FROZEN"})
    for n in range(4):
        await api.admin(STATUS, {"m": many, "s": "ACTIVE" if n % 2 else "FROZEN"})
    await api.admin(STATUS, {"m": many, "s": "ACTIVE"})
    for n in range(4):
        await api.admin(HOLD, {"m": many, "k": f"hold-{n}"})
        await api.admin(LINK, {"m": many, "r": f"ref-{n}"})
    await assert_same_statements(api, LISTS, {"m": few}, {"m": many}, api.staff_headers("analyst"))


ME = "query { me { id name status balance { available } } }"


async def test_me_with_its_balance_is_one_statement_the_standings(api: Api) -> None:
    member = await api.register("pos", "me")
    await api.earn(member, 25, "me-earn")
    with counting_statements(api) as statements:
        body = await api.call(ME, {}, api.member_headers(member))
    assert body["data"]["me"] == {
        "id": member,
        "name": None,
        "status": "ACTIVE",
        "balance": {"available": 25},
    }, body
    # The member's standing at authentication reads its row and its balance in one statement:
    # no second member read, no balance read of its own (no replica is configured).
    assert len(statements) == 1, "\n\n".join(statements)
    assert "FROM members" in statements[0] and "accounts" in statements[0], statements[0]


async def test_a_query_that_shows_no_balance_reads_the_standing_alone(api: Api) -> None:
    member = await api.register("pos", "me-plain")
    with counting_statements(api) as statements:
        body = await api.call("{ me { id } }", {}, api.member_headers(member))
    assert body["data"]["me"] == {"id": member}, body
    assert len(statements) == 1 and "accounts" not in statements[0], "\n\n".join(statements)


CHECK_IN = """mutation($m: ID!) { checkIn(input: {memberId: $m}) {
  __typename ... on CheckedIn { balance { available } } } }"""


async def test_a_mutations_standing_reads_no_balance_its_write_would_change(api: Api) -> None:
    member = await api.register("pos", "me-mutation")
    with counting_statements(api) as statements:
        await api.call(CHECK_IN, {"m": member}, api.member_headers(member))
    # checkIn may run its one statement before the standing (read only when it declines):
    # the standing is whichever statement reads the member's row, first or after it.
    standing = [statement for statement in statements if "FROM members" in statement]
    assert standing, "\n\n".join(statements)
    assert "accounts" not in standing[0], standing[0]


async def test_me_answers_as_the_member_stands_after_a_change_between_requests(api: Api) -> None:
    member = await api.register("pos", "me-frozen")
    await api.admin(STATUS, {"m": member, "s": "FROZEN"})
    body = await api.call(ME, {}, api.member_headers(member))
    assert body["data"]["me"]["status"] == "FROZEN", body
    await api.admin(STATUS, {"m": member, "s": "ACTIVE"})
    body = await api.call(ME, {}, api.member_headers(member))
    assert body["data"]["me"]["status"] == "ACTIVE", body
