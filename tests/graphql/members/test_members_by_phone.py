"""membersByPhone: staff find members by phone (not unique); bad input is a typed error; members
and partners may not search."""

from __future__ import annotations

from tests.graphql.conftest import Api

SEARCH = """query($p: String!) { membersByPhone(phone: $p) { id phone } }"""
PROFILE = """mutation($m: ID!, $p: String!) { updateMemberProfile(input: {memberId: $m,
  phone: $p}) { __typename } }"""


async def test_staff_find_members_by_phone(api: Api) -> None:
    a = await api.register("pos", "phone-a")
    b = await api.register("app", "phone-b")
    c = await api.register("app", "phone-c")
    for member, phone in ((a, "13800138000"), (b, "13800138000"), (c, "13900139000")):
        await api.admin(PROFILE, {"m": member, "p": phone})

    analyst = api.staff_headers("analyst")
    shared = await api.call(SEARCH, {"p": " 13800138000 "}, analyst)
    assert [m["id"] for m in shared["data"]["membersByPhone"]] == [a, b]
    single = await api.call(SEARCH, {"p": "13900139000"}, analyst)
    assert single["data"]["membersByPhone"] == [{"id": c, "phone": "13900139000"}]
    assert (await api.call(SEARCH, {"p": "10000000000"}, analyst))["data"]["membersByPhone"] == []


async def test_a_bad_phone_is_refused_and_only_staff_search(api: Api) -> None:
    member = await api.register("pos", "phone-x")
    for bad in ("", "   ", "1" * 33):
        body = await api.call(SEARCH, {"p": bad}, api.staff_headers("admin"))
        assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT", body
    as_member = await api.call(SEARCH, {"p": "13800138000"}, api.member_headers(member))
    assert as_member["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    partner = await api.partner_headers(["members:read"], "pos")
    as_partner = await api.call(SEARCH, {"p": "13800138000"}, partner)
    assert as_partner["errors"][0]["extensions"]["code"] == "FORBIDDEN"
