"""The delivery loop, for ``jifen worker`` (and ``jifen serve`` with ``JIFEN_WEBHOOKS_IN_SERVE``).

Each round dispatches the outbox's new events into messages, then leases as many due messages
as this process has free slots (``webhook_concurrency``) and attempts each in its own task, so a
slow receiver holds only its own slots (and at most ``webhook_endpoint_concurrency`` across
processes). The attempts' outcomes are written together by the process's one recorder
(app/webhooks/recording.py): one connection however many attempts are in flight. Any number of
processes may run it. Errors are logged and retried with back-off.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.logging import get_logger
from app.runtime import Runtime
from app.webhooks.delivery import attempt
from app.webhooks.dispatch import ChannelsOf, dispatch_pending
from app.webhooks.leases import Lease, lease_due
from app.webhooks.recording import Recorder
from app.webhooks.schedule import Outcome
from app.webhooks.transport import Sender

log = get_logger("app.webhooks.runner")

MAX_BACKOFF_SECONDS = 30.0


async def _attempt(sender: Sender, recorder: Recorder, lease: Lease) -> Outcome | None:
    try:
        return await attempt(sender, recorder, lease)
    except asyncio.CancelledError:
        raise
    except Exception:  # the lease runs out and the message is attempted again
        log.exception("webhooks.attempt_crashed", message_id=lease.message_id)
        return None


async def deliver_round(rt: Runtime, sender: Sender, channels_of: ChannelsOf) -> list[Outcome]:
    """Dispatch, then attempt every message due now, a lease at a time, waiting for the
    answers, until none is due: a synchronous round (tests)."""
    await dispatch_pending(rt, channels_of)
    recorder = Recorder(rt)
    outcomes: list[Outcome] = []
    while leases := await lease_due(rt, rt.settings.webhook_concurrency):
        done = await asyncio.gather(*(_attempt(sender, recorder, lease) for lease in leases))
        outcomes.extend(outcome for outcome in done if outcome is not None)
    return outcomes


async def run_webhooks(rt: Runtime, stop: asyncio.Event, channels_of: ChannelsOf) -> None:
    """Deliver until ``stop`` is set; attempts still running then are cancelled (their leases
    run out and another sender attempts them again)."""
    sender = Sender(rt.settings)
    recorder = Recorder(rt)
    in_flight: set[asyncio.Task[Outcome | None]] = set()
    failures = 0
    log.info("webhooks.sender_started")
    try:
        while not stop.is_set():
            try:
                await dispatch_pending(rt, channels_of)
                free = rt.settings.webhook_concurrency - len(in_flight)
                for lease in await lease_due(rt, free):
                    task = asyncio.create_task(_attempt(sender, recorder, lease))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                failures = 0
                delay = rt.settings.webhook_poll_seconds
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                delay = min(MAX_BACKOFF_SECONDS, rt.settings.webhook_poll_seconds * 2**failures)
                log.exception("webhooks.round_failed", failures=failures, retry_in=delay)
            full = len(in_flight) >= rt.settings.webhook_concurrency
            await _pause(stop, in_flight if full else set(), delay)
    finally:
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        await sender.aclose()
        log.info("webhooks.sender_stopped")


async def _pause(
    stop: asyncio.Event, attempts: set[asyncio.Task[Outcome | None]], seconds: float
) -> None:
    """Until ``stop``, one of ``attempts`` finishing (a slot frees), or ``seconds``."""
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait(
            {stopping, *attempts}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        stopping.cancel()


@asynccontextmanager
async def webhooks_running(rt: Runtime, channels_of: ChannelsOf) -> AsyncIterator[None]:
    """Deliver in the background for the duration of the block."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_webhooks(rt, stop, channels_of), name="jifen-webhooks")
    try:
        yield
    finally:
        stop.set()
        await task
