"""The delivery loop, for ``jifen worker`` (and ``jifen serve`` with ``JIFEN_WEBHOOKS_IN_SERVE``).

Two loops. The dispatcher turns the outbox's new events into messages when a transaction that
wrote events commits (app/events/wake.py: at once for this process's commits, through the
runtime's hub for the others') or every ``webhook_poll_seconds`` (a lost wake, a writer outside
the app). The sender runs the process's pump
(app/webhooks/pump.py): one transaction records the attempts answered and leases as many due
messages as this process has free slots (``webhook_concurrency``), each then attempted in its own
task, so a slow receiver holds only its own slots (and at most ``webhook_endpoint_concurrency``
across processes). It steps when the dispatcher made new messages, when attempts are answered,
or every ``webhook_poll_seconds`` (retries coming due): one connection however many attempts are
in flight. Any number of processes may run it. Errors are logged and retried with back-off.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from app.events.wake import OUTBOX_WAKE
from app.logging import get_logger
from app.runtime import Runtime
from app.webhooks.dispatch import ChannelsOf, dispatch_pending
from app.webhooks.pump import Pump
from app.webhooks.schedule import Outcome
from app.webhooks.transport import Sender

log = get_logger("app.webhooks.runner")

MAX_BACKOFF_SECONDS = 30.0
# After an answer, how long to wait for others before stepping: one transaction records several
# and fills their slots again, not one each.
ANSWER_GATHER_SECONDS = 0.01


async def deliver_round(rt: Runtime, sender: Sender, channels_of: ChannelsOf) -> list[Outcome]:
    """Dispatch, then attempt every message due now, waiting for the answers, until none is
    due: a synchronous round (tests)."""
    await dispatch_pending(rt, channels_of)
    pump = Pump(rt, sender)
    outcomes = await pump.step()
    while pump.busy:
        await pump.answers()
        outcomes += await pump.step()
    return outcomes


async def run_webhooks(rt: Runtime, stop: asyncio.Event, channels_of: ChannelsOf) -> None:
    """Deliver until ``stop`` is set; attempts still running then are cancelled (their leases
    run out and another sender attempts them again), those answered are recorded."""
    sender = Sender(rt.settings)
    pump = Pump(rt, sender)
    log.info("webhooks.sender_started")
    try:
        async with OUTBOX_WAKE.reader(rt.hub) as commits:
            made = asyncio.Event()
            dispatcher = asyncio.create_task(
                _dispatching(rt, stop, commits, made, channels_of), name="jifen-wh-dispatch"
            )
            try:
                await _sending(rt, stop, made, pump)
            finally:
                dispatcher.cancel()
                with suppress(asyncio.CancelledError):
                    await dispatcher
    finally:
        await asyncio.gather(*pump.cancel(), return_exceptions=True)
        with suppress(Exception):
            await pump.step(lease=False)
        await sender.aclose()
        log.info("webhooks.sender_stopped")


async def _dispatching(
    rt: Runtime,
    stop: asyncio.Event,
    commits: asyncio.Event,
    made: asyncio.Event,
    channels_of: ChannelsOf,
) -> None:
    """Messages from the outbox, at each commit (or poll); ``made`` set when there are new."""
    failures = 0
    poll = rt.settings.webhook_poll_seconds
    # Passes start at most every ``gather`` seconds: under load each takes the commits of that
    # time together (at 1,000 events a second in commits of 10, fifty events a pass instead of
    # ten, for the same statements: a pass's CPU is mostly its own, not its events'), while a
    # commit after a quiet spell is dispatched at once.
    gather = rt.settings.webhook_dispatch_gather_seconds
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        commits.clear()  # a commit from now on wakes the next pause
        began = loop.time()
        try:
            if await dispatch_pending(rt, channels_of):
                made.set()
            failures, delay = 0, poll
        except asyncio.CancelledError:
            raise
        except Exception:
            failures += 1
            delay = min(MAX_BACKOFF_SECONDS, poll * 2**failures)
            log.exception("webhooks.dispatch_failed", failures=failures, retry_in=delay)
        await _pause(stop, [commits] if not failures else [], delay)
        await _pause(stop, [], began + gather - loop.time())


async def _sending(rt: Runtime, stop: asyncio.Event, made: asyncio.Event, pump: Pump) -> None:
    """Step the pump at each new message, each answer (a slot frees; and a moment more, so that
    one step serves several), or poll (retries coming due)."""
    failures = 0
    poll = rt.settings.webhook_poll_seconds
    while not stop.is_set():
        made.clear()
        pump.answered.clear()
        try:
            await pump.step()
            failures, delay = 0, poll
        except asyncio.CancelledError:
            raise
        except Exception:
            failures += 1
            delay = min(MAX_BACKOFF_SECONDS, poll * 2**failures)
            log.exception("webhooks.round_failed", failures=failures, retry_in=delay)
            await _pause(stop, [], delay)
            continue
        await _pause(stop, [made, pump.answered], delay)
        if pump.answered.is_set() and not stop.is_set():
            await asyncio.sleep(ANSWER_GATHER_SECONDS)


async def _pause(stop: asyncio.Event, wake: list[asyncio.Event], seconds: float) -> None:
    """Until ``stop``, one of ``wake``, or ``seconds``."""
    if seconds <= 0:
        return
    waiters = [asyncio.ensure_future(event.wait()) for event in (stop, *wake)]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


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
