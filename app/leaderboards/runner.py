"""The projector's loop, for the web lifespan or the worker: ``run_projector(rt, stop, wake)``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager

from app.background import running
from app.leaderboards.boards import BOARDS
from app.leaderboards.projector import apply_pending, events_lost_after, read_cursor
from app.leaderboards.rebuild import rebuild
from app.logging import get_logger
from app.runtime import Runtime

log = get_logger("app.leaderboards.runner")

MAX_BACKOFF_SECONDS = 30.0


async def run_projector(
    rt: Runtime,
    stop: asyncio.Event,
    wake: asyncio.Event | None = None,
    *,
    boards: Sequence[str] | None = None,
) -> None:
    """Keep the boards up to date until ``stop`` is set.

    Each round applies what is pending, then sleeps ``leaderboard_poll_seconds`` or until ``wake``
    is set (e.g. by the relay after it published events). A board without a cursor (Redis lost
    its data, or a first start), or whose next events were already purged from the outbox, is
    first rebuilt from the ledger for the current periods, rather than replayed from whatever
    the outbox still holds. Errors are logged and retried with
    back-off; the loop never dies while ``stop`` is unset. Any number of processes may run it.
    """
    names = list(boards or BOARDS)
    failures = 0
    log.info("leaderboards.projector_started", boards=names)
    while not stop.is_set():
        try:
            for name in names:
                cursor = await read_cursor(rt.redis, name)
                if cursor is None:
                    log.warning("leaderboards.cursor_missing_rebuilding", board=name)
                    await rebuild(rt, name)
                elif await events_lost_after(rt, cursor):
                    log.warning("leaderboards.events_purged_rebuilding", board=name, cursor=cursor)
                    await rebuild(rt, name)
            await apply_pending(rt, names)
            failures = 0
            delay = rt.settings.leaderboard_poll_seconds
        except asyncio.CancelledError:
            raise
        except Exception:
            failures += 1
            delay = min(MAX_BACKOFF_SECONDS, rt.settings.leaderboard_poll_seconds * 2**failures)
            log.exception("leaderboards.projector_failed", failures=failures, retry_in=delay)
        await _sleep(stop, wake, delay)
    log.info("leaderboards.projector_stopped")


async def _sleep(stop: asyncio.Event, wake: asyncio.Event | None, seconds: float) -> None:
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


def projector_running(rt: Runtime) -> AbstractAsyncContextManager[None]:
    """Run the projector in the background for the duration of the block (web app, worker)."""
    return running("jifen-leaderboards", lambda stop: run_projector(rt, stop))
