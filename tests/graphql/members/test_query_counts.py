"""The Member type's lists read in a fixed number of statements, however long the page."""

from __future__ import annotations

from tests.graphql.conftest import Api
from tests.graphql.statements import assert_same_statements

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
