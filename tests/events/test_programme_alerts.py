"""programmeAlerts over a real WebSocket, end to end: credentials refused by the live API are
counted, the detector fires a failed-credential alert, and a staff subscriber has it within a
second (and again after reconnecting with ``after``); members may not subscribe."""

from __future__ import annotations

from app.analytics.alerts import check_anomalies
from app.runtime import Runtime
from tests.events.conftest import LiveApp
from tests.events.test_subscriptions import error_code
from tests.wsclient import graphql_ws

FORGED = {"Authorization": "Bearer forged.token.here"}
ALERTS = """subscription($after: ID) {
  programmeAlerts(after: $after) { id type subject payload } }"""


async def test_staff_receive_a_failed_credential_surge_live(live: LiveApp) -> None:
    rt = live.runtime
    tuned = Runtime(
        rt.settings.model_copy(update={"alert_credential_failures": 3}),
        rt.engine,
        rt.redis,
        rt.clock,
    )
    async with graphql_ws(live.ws_url, token=live.staff_token("analyst")) as ws:
        await ws.subscribe("1", ALERTS, {})
        await ws.nothing_more(0.3)
        for _ in range(3):
            refused = await live.api.post(
                "{ jobs { name } }", headers={"Authorization": "Bearer x"}
            )
            assert refused.status_code == 401
        assert (await check_anomalies(tuned))["fired"] == 1
        alert = (
            await ws.next_data(
                "1",
            )
        )["programmeAlerts"]
        assert (alert["type"], alert["subject"]) == ("alert.credential_failures", "programme")
        assert alert["payload"]["failures"] == 3
        assert (await check_anomalies(tuned))["fired"] == 0
        await ws.nothing_more(0.3)

    async with graphql_ws(live.ws_url, token=live.staff_token("operator")) as ws:
        await ws.subscribe("2", ALERTS, {"after": "0"})
        again = (await ws.next_data("2", within=2))["programmeAlerts"]
        assert again["id"] == alert["id"]


async def test_members_may_not_follow_the_alerts(live: LiveApp) -> None:
    member = await live.api.register("pos", "curious")
    async with graphql_ws(live.ws_url, token=live.member_token(member)) as ws:
        await ws.subscribe("1", ALERTS, {})
        assert error_code(await ws.receive()) == "FORBIDDEN"
