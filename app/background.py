"""Loops run in the background for the duration of a block (the web app's, the worker's), and
the polling loop the projectors share: a round, then a pause; after a failure a longer pause."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

MAX_BACKOFF_SECONDS = 30.0


@asynccontextmanager
async def running(
    name: str, loop: Callable[[asyncio.Event], Coroutine[Any, Any, None]]
) -> AsyncIterator[None]:
    """Start ``loop(stop)`` as a task; at the block's end set ``stop`` and wait for the loop."""
    stop = asyncio.Event()
    task = asyncio.create_task(loop(stop), name=name)
    try:
        yield
    finally:
        stop.set()
        await task


async def pause(stop: asyncio.Event, seconds: float, wake: asyncio.Event | None = None) -> None:
    """Until ``stop`` is set, ``wake`` is set (then cleared for the next pause), or ``seconds``."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        if wake is not None:
            wake.clear()


async def poll(
    stop: asyncio.Event,
    round_: Callable[[], Awaitable[None]],
    *,
    every: float,
    on_failure: Callable[[int, float], None],
    wake: asyncio.Event | None = None,
) -> None:
    """Run ``round_`` until ``stop`` is set, pausing ``every`` seconds (or until ``wake``)
    between rounds. A round that fails is reported to ``on_failure(failures, retry_in)`` (which
    logs it) and the pause doubles with each failure in a row, up to MAX_BACKOFF_SECONDS: the
    loop never dies while ``stop`` is unset."""
    failures = 0
    while not stop.is_set():
        try:
            await round_()
            failures = 0
            delay = every
        except asyncio.CancelledError:
            raise
        except Exception:
            failures += 1
            delay = min(MAX_BACKOFF_SECONDS, every * 2**failures)
            on_failure(failures, delay)
        await pause(stop, delay, wake)
