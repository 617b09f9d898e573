"""The delivery loop, for ``jifen worker`` (and ``jifen serve`` with ``JIFEN_WEBHOOKS_IN_SERVE``).

Two loops. The dispatcher turns the outbox's new events into messages when a transaction that
wrote events commits (app/webhooks/wake.py: LISTEN on the relay's notification) or every
``webhook_poll_seconds`` (a lost notification). The sender leases as many due messages as this
process has free slots (``webhook_concurrency``) when the dispatcher made new ones, when a slot
frees, or every ``webhook_poll_seconds`` (retries coming due), and attempts each in its own task,
so a slow receiver holds only its own slots (and at most ``webhook_endpoint_concurrency`` across
processes). The attempts' outcomes are written together by the process's one recorder
(app/webhooks/recording.py): one connection however many attempts are in flight. Any number of
processes may run it. Errors are logged and retried with back-off.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from app.logging import get_logger
from app.runtime import Runtime
from app.webhooks.delivery import attempt
from app.webhooks.dispatch import ChannelsOf, dispatch_pending
from app.webhooks.leases import Lease, lease_due
from app.webhooks.recording import Recorder
from app.webhooks.schedule import Outcome
from app.webhooks.transport import Sender
from app.webhooks.wake import outbox_commits

log = get_logger("app.webhooks.runner")

MAX_BACKOFF_SECONDS = 30.0
# After a slot frees, how long to wait for others before leasing again: one leasing transaction
# serves several slots, not one each.
SLOT_GATHER_SECONDS = 0.01


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
    log.info("webhooks.sender_started")
    try:
        async with outbox_commits(rt.settings.database_url) as commits:
            made = asyncio.Event()
            dispatcher = asyncio.create_task(
                _dispatching(rt, stop, commits, made, channels_of), name="jifen-wh-dispatch"
            )
            try:
                await _sending(rt, stop, made, sender, recorder, in_flight)
            finally:
                dispatcher.cancel()
                with suppress(asyncio.CancelledError):
                    await dispatcher
    finally:
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
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
    while not stop.is_set():
        commits.clear()  # a commit from now on wakes the next pause
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
        await _pause(stop, commits if not failures else None, set(), delay)


async def _sending(
    rt: Runtime,
    stop: asyncio.Event,
    made: asyncio.Event,
    sender: Sender,
    recorder: Recorder,
    in_flight: set[asyncio.Task[Outcome | None]],
) -> None:
    """Lease as many due messages as there are free slots, at each new message, each slot that
    frees (another message of that endpoint may be due), or poll (retries coming due)."""
    failures = 0
    poll = rt.settings.webhook_poll_seconds
    while not stop.is_set():
        made.clear()
        try:
            free = rt.settings.webhook_concurrency - len(in_flight)
            for lease in await lease_due(rt, free):
                task = asyncio.create_task(_attempt(sender, recorder, lease))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            failures, delay = 0, poll
        except asyncio.CancelledError:
            raise
        except Exception:
            failures += 1
            delay = min(MAX_BACKOFF_SECONDS, poll * 2**failures)
            log.exception("webhooks.round_failed", failures=failures, retry_in=delay)
            await _pause(stop, None, set(), delay)
            continue
        await _pause(stop, made, in_flight, delay)


async def _pause(
    stop: asyncio.Event,
    wake: asyncio.Event | None,
    attempts: set[asyncio.Task[Outcome | None]],
    seconds: float,
) -> None:
    """Until ``stop``, ``wake``, one of ``attempts`` finishing (a slot frees: then a moment
    more, so that the next lease serves several slots, not one), or ``seconds``."""
    waiters = {asyncio.ensure_future(stop.wait())}
    if wake is not None:
        waiters.add(asyncio.ensure_future(wake.wait()))
    try:
        done, _ = await asyncio.wait(
            {*waiters, *attempts}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
        if attempts and done & attempts and not stop.is_set():
            await asyncio.wait(attempts, timeout=SLOT_GATHER_SECONDS)
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
