"""A member's friends read in a fixed number of statements, however many."""

from __future__ import annotations

from tests.graphql.conftest import Api
from tests.graphql.statements import assert_same_statements

ISSUE = """mutation($m: ID!) { issueInviteCode(input: {memberId: $m}) {
  ... on InviteCodeIssued { inviteCode } } }"""
ACCEPT = """mutation($m: ID!, $c: String!) { acceptInvite(input: {memberId: $m, inviteCode: $c})
  { __typename } }"""
REFERRALS = """query($m: ID!) { referrals(memberId: $m) { inviteCode
  friends { friendId status referrerRewarded } } }"""


async def invite(api: Api, referrer: str, friends: int) -> None:
    code = (await api.admin(ISSUE, {"m": referrer}))["issueInviteCode"]["inviteCode"]
    for n in range(friends):
        friend = await api.register("app", f"friend-{referrer}-{n}")
        await api.admin(ACCEPT, {"m": friend, "c": code})


async def test_friends_take_the_same_statements_for_one_friend_or_three(api: Api) -> None:
    few = await api.register("app", "few")
    many = await api.register("app", "many")
    await invite(api, few, 1)
    await invite(api, many, 3)
    await assert_same_statements(
        api, REFERRALS, {"m": few}, {"m": many}, api.staff_headers("analyst")
    )
