"""A `jifen worker` killed (SIGKILL) in the middle of an attempt: the message is not lost, and
not sent again while the dead worker's lease stands; then another sender delivers it."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.clock import FrozenClock
from app.runtime import Runtime
from app.webhooks.schedule import Outcome
from app.webhooks.tables import webhook_attempts, webhook_messages
from app.webhooks.transport import Sender
from tests.eventually import eventually
from tests.webhooks.conftest import create_endpoint, deliver, earn, member
from tests.webhooks.receiver import Receiver, Reply

pytestmark = pytest.mark.e2e

LEASE_SECONDS = 20
# A hang detector, not a speed bound: importing the app alone took 25-35 s on this 2-core
# machine while other test suites ran, and the banner comes after the demo is seeded.
STARTUP_SECONDS = 180


async def test_a_worker_killed_mid_delivery_leaves_the_message_to_another(
    wh_runtime: Runtime, sender: Sender, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.secrets = [(await create_endpoint(wh_runtime, receiver.url, ["points.earned"])).secret]
    never = threading.Event()
    receiver.script = lambda n, h: Reply(hold=never) if n == 1 else Reply()
    await earn(wh_runtime, await member(wh_runtime), 10, "k")

    settings = wh_runtime.settings
    env = {
        **os.environ,
        "JIFEN_DATABASE_URL": str(settings.database_url),
        "JIFEN_REDIS_URL": str(settings.redis_url),
        "JIFEN_JWT_SECRET": str(settings.jwt_secret),
        "JIFEN_JOBS_ENABLED": "false",
        "JIFEN_WEBHOOK_ALLOWED_NETWORKS": '["127.0.0.1/32"]',
        "JIFEN_WEBHOOK_LEASE_SECONDS": str(LEASE_SECONDS),
        "JIFEN_WEBHOOK_TIMEOUT_SECONDS": "15",
        "JIFEN_WEBHOOK_POLL_SECONDS": "0.1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "worker.log"
    with log.open("wb") as sink:
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.cli", "worker", env=env, stdout=sink, stderr=sink
        )
        try:
            # The worker is mid-attempt: the receiver has the request and does not answer.
            await eventually(lambda: receiver.received, within=STARTUP_SECONDS)
            leased_at = datetime.now(UTC)
        finally:
            worker.kill()
            await worker.wait()
    try:
        # The dead worker's lease stands: another sender does not send it meanwhile.
        wh_runtime.clock = FrozenClock(leased_at + timedelta(seconds=LEASE_SECONDS / 2))
        assert await deliver(wh_runtime, sender) == []
        wh_runtime.clock = FrozenClock(leased_at + timedelta(seconds=LEASE_SECONDS + 1))
        assert await deliver(wh_runtime, sender) == [Outcome.DELIVERED]
    finally:
        never.set()

    first, second = receiver.received
    assert first.webhook_id == second.webhook_id and second.verified_with
    async with wh_runtime.engine.connect() as conn:
        status = (await conn.execute(select(webhook_messages.c.status))).scalar_one()
        attempts = (await conn.execute(select(webhook_attempts.c.outcome))).scalars().all()
    assert status == "delivered"
    assert attempts == ["delivered"]  # the killed attempt recorded nothing
    assert "Traceback" not in log.read_text(errors="replace")
