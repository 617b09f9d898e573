"""Starting and stopping a process's share of the event flow: the hub and (maybe) the relay."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import timedelta

from app.config import Settings
from app.events.broadcast import EventHub
from app.events.relay import Relay, run_relay_until_cancelled
from app.events.wake import OUTBOX_WAKE


def build_relay(settings: Settings, hub: EventHub, name: str | None = None) -> Relay:
    if settings.database_url is None:
        raise RuntimeError("JIFEN_DATABASE_URL is not set")
    return Relay(
        settings.database_url,
        hub,
        poll_seconds=settings.relay_poll_seconds,
        batch_size=settings.relay_batch_size,
        retention=timedelta(hours=settings.event_retention_hours),
        coalesce_seconds=settings.relay_coalesce_seconds,
        name=name or f"pid-{os.getpid()}",
    )


@asynccontextmanager
async def event_gateway(
    settings: Settings, *, relay: bool | None = None
) -> AsyncIterator[EventHub]:
    """The hub, connected, with the relay competing for leadership in the background
    (``relay`` defaults to ``settings.relay_enabled``), and carrying this process's outbox
    wakes to the other processes (app/events/wake.py)."""
    if settings.redis_url is None:
        raise RuntimeError("JIFEN_REDIS_URL is not set")
    hub = EventHub.from_settings(
        settings.redis_url, settings.event_channel_prefix, settings.subscriber_buffer
    )
    await hub.connect()
    task: asyncio.Task[None] | None = None
    if settings.relay_enabled if relay is None else relay:
        task = asyncio.create_task(
            run_relay_until_cancelled(build_relay(settings, hub)), name="jifen-relay"
        )
    try:
        async with OUTBOX_WAKE.publishing(hub):
            yield hub
    finally:
        if task is not None:
            await _stop(task)
        await hub.disconnect()


async def _stop(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait for it; cancel again should it have absorbed a cancellation."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    with suppress(asyncio.CancelledError):
        await task
