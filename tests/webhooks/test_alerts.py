"""Anomaly alerts reach webhooks: a staff endpoint subscribed to an alert type receives it,
signed, once; a channel's endpoint may not subscribe to alerts."""

from __future__ import annotations

import pytest

from app.analytics.alerts import ALERT_EVENTS, Alert, fire
from app.db import unit_of_work
from app.errors import DomainError, ErrorCode
from app.runtime import Runtime
from app.webhooks.schedule import Outcome
from app.webhooks.transport import Sender
from tests.webhooks.conftest import create_endpoint, deliver
from tests.webhooks.receiver import Receiver


async def test_a_staff_endpoint_receives_the_alerts_it_subscribed_to(
    wh_runtime: Runtime, sender: Sender, receiver: Receiver
) -> None:
    created = await create_endpoint(wh_runtime, receiver.url, ["alert.redemption_surge"])
    receiver.secrets = [created.secret]
    surge = Alert("alert.redemption_surge", "item:mug", "2027-03-01T04", {"units": 15})
    other = Alert("alert.credential_failures", "programme", "2027-03-01T04", {"failures": 9})
    async with unit_of_work(wh_runtime.engine) as conn:
        assert await fire(conn, [surge, other, surge], wh_runtime.clock.now()) == 2
    assert await deliver(wh_runtime, sender) == [Outcome.DELIVERED]
    assert await deliver(wh_runtime, sender) == []
    [request] = receiver.delivered()
    assert request.payload["type"] == "alert.redemption_surge"
    assert (request.payload["data"]["subject"], request.payload["data"]["units"]) == (
        "item:mug",
        15,
    )
    assert "member_id" not in request.payload["data"]


async def test_a_channels_endpoint_may_not_have_alerts(wh_runtime: Runtime) -> None:
    with pytest.raises(DomainError) as refused:
        await create_endpoint(
            wh_runtime, "https://partner.example/hook", sorted(ALERT_EVENTS), channel="pos"
        )
    assert refused.value.code is ErrorCode.INVALID_INPUT
