"""Notifications and coalition partners read in a fixed number of statements, however many."""

from __future__ import annotations

from app.lifecycle.tables import notifications
from tests.graphql.conftest import Api
from tests.graphql.statements import assert_same_statements, statements_of

NOTIFICATIONS = """query($m: ID!, $n: Int!) { notifications(memberId: $m, first: $n) {
  edges { cursor node { id kind title points validThrough } } pageInfo { hasNextPage }
  unreadCount } }"""
PARTNERS = "query { exchangePartners { code rateIn enabled } }"
PARTNER = """mutation($c: String!) { saveExchangePartner(input: {code: $c, name: $c,
  rateIn: "0.5", rateOut: "1.5", minPoints: 10, maxPoints: 5000, dailyLimit: 8000})
  { __typename } }"""


async def test_a_page_of_notifications_takes_the_same_statements_for_one_or_five(
    api: Api,
) -> None:
    member = await api.register("app", "told")
    now = api.runtime.clock.now()
    async with api.runtime.engine.begin() as conn:
        await conn.execute(
            notifications.insert(),
            [
                {
                    "member_id": int(member),
                    "kind": "points.expiring",
                    "title": "t",
                    "body": "b",
                    "payload": {"points": n, "expires_on": "2026-12-31"},
                    "created_at": now,
                }
                for n in range(5)
            ],
        )
    await assert_same_statements(
        api,
        NOTIFICATIONS,
        {"m": member, "n": 1},
        {"m": member, "n": 5},
        api.staff_headers("analyst"),
    )


async def test_the_partners_take_the_same_statements_for_one_or_four(api: Api) -> None:
    await api.admin(PARTNER, {"c": "partner-0"})
    headers = api.staff_headers("analyst")
    one = await statements_of(api, PARTNERS, {}, headers)
    for n in range(1, 4):
        await api.admin(PARTNER, {"c": f"partner-{n}"})
    four = await statements_of(api, PARTNERS, {}, headers)
    assert len(four) == len(one), "\n\n".join(four)
