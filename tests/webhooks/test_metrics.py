"""Delivery metrics: attempts by outcome, and the backlog measured at scrape time."""

from __future__ import annotations

from datetime import timedelta

from app import metrics
from app.clock import FrozenClock
from app.monitoring import measured
from app.runtime import Runtime
from app.webhooks.backlog import backlog_gauges
from app.webhooks.transport import Sender
from tests.webhooks.conftest import create_endpoint, deliver, earn, member
from tests.webhooks.receiver import Receiver, Reply


def gauges(found: list[metrics.Measured]) -> dict[str, float]:
    return {gauge.name: gauge.value for gauge in found}


async def test_the_backlog_and_attempts_are_measured(
    wh_runtime: Runtime, sender: Sender, receiver: Receiver, clock: FrozenClock
) -> None:
    await create_endpoint(wh_runtime, receiver.url, ["points.earned"])
    up = {"value": False}
    receiver.script = lambda n, h: Reply() if up["value"] else Reply(500)
    member_id = await member(wh_runtime)
    for n in range(3):
        await earn(wh_runtime, member_id, 10, f"k-{n}")
    retried = metrics.webhook_attempts.labels("retry")._value.get()
    delivered = metrics.webhook_attempts.labels("delivered")._value.get()

    await deliver(wh_runtime, sender)
    waiting = gauges(await measured(wh_runtime.engine, (backlog_gauges,)))
    assert waiting["jifen_webhook_backlog"] == 3
    assert waiting["jifen_webhook_oldest_undelivered_seconds"] >= 0
    assert metrics.webhook_attempts.labels("retry")._value.get() == retried + 3

    up["value"] = True
    clock.advance(timedelta(seconds=10))
    await deliver(wh_runtime, sender)
    done = gauges(await measured(wh_runtime.engine, (backlog_gauges,)))
    assert done["jifen_webhook_backlog"] == 0
    assert done["jifen_webhook_oldest_undelivered_seconds"] == 0
    assert metrics.webhook_attempts.labels("delivered")._value.get() == delivered + 3
