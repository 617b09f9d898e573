"""Settled messages go after the retention time; pending ones stay, however old."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.clock import FrozenClock
from app.runtime import Runtime
from app.webhooks.retention import purge_settled
from app.webhooks.tables import webhook_attempts, webhook_messages
from app.webhooks.transport import Sender
from tests.webhooks.conftest import create_endpoint, deliver, earn, member
from tests.webhooks.receiver import Receiver, Reply


async def test_settled_messages_are_deleted_after_the_retention_time(
    wh_runtime: Runtime, sender: Sender, receiver: Receiver, clock: FrozenClock
) -> None:
    with Receiver() as down:
        down.script = lambda n, h: Reply(500)
        await create_endpoint(wh_runtime, receiver.url, ["points.earned"])
        await create_endpoint(wh_runtime, down.url, ["points.earned"])
        await earn(wh_runtime, await member(wh_runtime), 10, "k")
        await deliver(wh_runtime, sender)  # one delivered, one pending (retrying)

    clock.advance(timedelta(days=29))
    assert await purge_settled(wh_runtime) == {"deleted": 0}
    clock.advance(timedelta(days=2))
    assert await purge_settled(wh_runtime) == {"deleted": 1}
    async with wh_runtime.engine.connect() as conn:
        left = (await conn.execute(select(webhook_messages.c.status))).scalars().all()
        attempts = (await conn.execute(select(webhook_attempts.c.status_code))).scalars().all()
    assert left == ["pending"]
    assert attempts == [500]  # the deleted message's attempts went with it
