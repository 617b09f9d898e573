"""A referral chain end to end through the API; refusals that change nothing."""

from __future__ import annotations

from typing import Any

from app.auth.permissions import PARTNER_SCOPES
from tests.engagement.test_referrals import database_state
from tests.graphql.conftest import Api, assert_audit_clean

REFERRALS = """query($m: ID!) { referrals(memberId: $m) {
  inviteCode referrerId rewardedThisMonth monthlyCap
  friends { friendId status referrerRewarded } } }"""
ACCEPT = """mutation($m: ID!, $c: String!) { acceptInvite(input: {memberId: $m, inviteCode: $c}) {
  __typename ... on InviteAccepted { referral { friendId referrerId status } }
  ... on MutationError { code message field } } }"""
PURCHASE = """mutation($m: ID!, $o: String!) { recordPurchase(input: {memberId: $m, channel: "pos",
  orderId: $o, lines: [{sku: "s", category: "grocery", quantity: 1, amount: "10"}]}) {
  __typename ... on MutationError { code message } } }"""


ISSUE = """mutation($m: ID!) { issueInviteCode(input: {memberId: $m}) {
  __typename ... on InviteCodeIssued { inviteCode } ... on MutationError { code message } } }"""


async def code_of(api: Api, member: str) -> str:
    """The member asks for its code (a mutation), then finds it in its referrals."""
    body = await api.call(ISSUE, {"m": member}, api.member_headers(member))
    code: str = body["data"]["issueInviteCode"]["inviteCode"]
    data = (await api.call(REFERRALS, {"m": member}, api.member_headers(member)))["data"]
    assert data["referrals"]["inviteCode"] == code
    return code


async def accept(api: Api, member: str, code: str) -> dict[str, Any]:
    body = await api.call(ACCEPT, {"m": member, "c": code}, api.member_headers(member))
    result: dict[str, Any] = body["data"]["acceptInvite"]
    return result


async def test_a_referral_chain_end_to_end(api: Api) -> None:
    pos = await api.partner_headers(sorted(PARTNER_SCOPES), "pos", "shop")
    alice = await api.register("pos", "alice")
    bob = await api.register("pos", "bob")
    carol = await api.register("pos", "carol")

    accepted = await accept(api, bob, await code_of(api, alice))
    assert accepted["referral"] == {"friendId": bob, "referrerId": alice, "status": "pending"}
    assert (await accept(api, carol, await code_of(api, bob)))["__typename"] == "InviteAccepted"
    for member, order in ((bob, "b1"), (carol, "c1"), (bob, "b2")):
        body = await api.call(PURCHASE, {"m": member, "o": order}, pos)
        assert body["data"]["recordPurchase"]["__typename"] == "PurchaseRecorded", body

    totals = {m: (await api.ledger_state(m))["balance"]["total"] for m in (alice, bob, carol)}
    assert totals == {alice: 100, bob: 200, carol: 100}  # bob: as a friend and as a referrer
    alice_view = (await api.call(REFERRALS, {"m": alice}, api.member_headers(alice)))["data"]
    assert alice_view["referrals"]["friends"] == [
        {"friendId": bob, "status": "rewarded", "referrerRewarded": True}
    ]
    assert alice_view["referrals"]["rewardedThisMonth"] == 1
    await assert_audit_clean(api)


async def test_self_referral_a_second_referrer_and_another_members_token_are_refused(
    api: Api,
) -> None:
    alice = await api.register("pos", "alice")
    bob = await api.register("pos", "bob")
    carol = await api.register("pos", "carol")
    code_alice = await code_of(api, alice)
    code_carol = await code_of(api, carol)
    before = {m: await api.ledger_state(m) for m in (alice, bob, carol)}

    assert (await accept(api, alice, code_alice))["code"] == "INVALID_INPUT"
    assert (await accept(api, bob, code_alice))["__typename"] == "InviteAccepted"
    second = await accept(api, bob, code_carol)
    assert (second["code"], second["field"]) == ("ALREADY_EXISTS", "inviteCode")
    unknown = await accept(api, carol, "UNKNOWN9")
    assert (unknown["code"], unknown["field"]) == ("NOT_FOUND", "inviteCode")
    forged = await api.call(ACCEPT, {"m": carol, "c": code_alice}, api.member_headers(bob))
    assert forged["data"]["acceptInvite"]["code"] == "FORBIDDEN"

    bob_view = (await api.call(REFERRALS, {"m": bob}, api.member_headers(bob)))["data"]
    assert bob_view["referrals"]["referrerId"] == alice
    carol_view = (await api.call(REFERRALS, {"m": carol}, api.member_headers(carol)))["data"]
    assert carol_view["referrals"]["referrerId"] is None
    assert {m: await api.ledger_state(m) for m in (alice, bob, carol)} == before


async def test_the_referrals_query_writes_nothing(api: Api) -> None:
    alice = await api.register("pos", "alice")
    before = await database_state(api.runtime)
    body = await api.call(REFERRALS, {"m": alice}, api.member_headers(alice))
    assert body["data"]["referrals"]["inviteCode"] is None
    assert await database_state(api.runtime) == before

    code = await code_of(api, alice)  # issued by the mutation: now the query shows it
    assert len(code) == 8
