"""A member's WebSocket credential is only as good as its account (issue 12): a closed member is
refused at connection_init, a frozen one may still subscribe to its own events."""

from __future__ import annotations

import pytest
from websockets.exceptions import ConnectionClosed

from tests.events.conftest import LiveApp
from tests.wsclient import BALANCE, graphql_ws


async def set_status(live: LiveApp, member: str, status: str) -> None:
    data = await live.api.admin(
        """mutation($m: ID!, $s: MemberStatus!) { setMemberStatus(input: {memberId: $m,
             status: $s, reason: "support ticket"}) { __typename } }""",
        {"m": member, "s": status},
    )
    assert data["setMemberStatus"]["__typename"] == "MemberPayload", data


async def test_a_closed_members_token_is_refused_at_connection_init(live: LiveApp) -> None:
    member = await live.api.register("pos", "a")
    await set_status(live, member, "CLOSED")
    async with graphql_ws(live.ws_url) as ws:
        await ws.send(
            {
                "type": "connection_init",
                "payload": {"Authorization": f"Bearer {live.member_token(member)}"},
            }
        )
        with pytest.raises(ConnectionClosed) as closed:
            await ws.receive()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_a_frozen_member_still_follows_its_balance(live: LiveApp) -> None:
    member = await live.api.register("pos", "a")
    await set_status(live, member, "FROZEN")
    async with graphql_ws(live.ws_url, token=live.member_token(member)) as ws:
        await ws.subscribe("1", BALANCE, {"m": member})
        assert (await ws.next_data("1"))["balance"]["total"] == 0
        earned = await live.api.earn(member, 10, "k1")  # frozen members accrue
        assert earned["__typename"] == "PointsPosted", earned
        assert (await ws.next_data("1", within=2))["balance"]["total"] == 10
