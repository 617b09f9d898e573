"""The rollup projector's loop, run by the worker: ``rollups_running(rt)``."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager, suppress

from app.analytics.projector import apply_pending, read_cursor
from app.analytics.rebuild import rebuild
from app.background import running
from app.leaderboards.projector import events_lost_after
from app.logging import get_logger
from app.runtime import Runtime

log = get_logger("app.analytics.runner")

MAX_BACKOFF_SECONDS = 30.0


async def needs_rebuild(rt: Runtime) -> bool:
    """No cursor yet (a programme that had events before analytics existed), or the outbox
    already purged events the projector never read: only the ledger has them now."""
    async with rt.engine.connect() as conn:
        cursor = await read_cursor(conn)
    return cursor is None or await events_lost_after(rt, cursor)


async def run_rollups(rt: Runtime, stop: asyncio.Event) -> None:
    """Keep the rollups up to date until ``stop`` is set; errors are logged and retried with
    back-off. Any number of processes may run it (batches are serialised by a lock)."""
    failures = 0
    while not stop.is_set():
        try:
            if await needs_rebuild(rt):
                log.warning("analytics.rebuilding")
                await rebuild(rt)
            await apply_pending(rt)
            failures = 0
            delay = rt.settings.leaderboard_poll_seconds
        except asyncio.CancelledError:
            raise
        except Exception:
            failures += 1
            delay = min(MAX_BACKOFF_SECONDS, rt.settings.leaderboard_poll_seconds * 2**failures)
            log.exception("analytics.projector_failed", failures=failures, retry_in=delay)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)


def rollups_running(rt: Runtime) -> AbstractAsyncContextManager[None]:
    """Run the rollup projector in the background for the duration of the block (worker)."""
    return running("jifen-analytics", lambda stop: run_rollups(rt, stop))
