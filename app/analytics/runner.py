"""The rollup projector's loop, run by the worker: ``rollups_running(rt)``."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager

from app.analytics.projector import apply_pending, read_cursor
from app.analytics.rebuild import rebuild, rebuild_member_activity
from app.background import poll, running
from app.leaderboards.projector import events_lost_after
from app.logging import get_logger
from app.runtime import Runtime
from app.segments.activity import activity_cursor, apply_activity

log = get_logger("app.analytics.runner")


async def needs_rebuild(rt: Runtime) -> bool:
    """No cursor yet (a programme that had events before analytics existed), or the outbox
    already purged events the projector never read: only the ledger has them now."""
    async with rt.engine.connect() as conn:
        cursor = await read_cursor(conn)
    return cursor is None or await events_lost_after(rt, cursor)


async def activity_lost(rt: Runtime) -> bool:
    """The outbox purged events the members' activity never applied (without a cursor it
    rebuilds itself)."""
    async with rt.engine.connect() as conn:
        cursor = await activity_cursor(conn)
    return cursor is not None and await events_lost_after(rt, cursor)


async def rollup_round(rt: Runtime) -> None:
    """Rebuild first when the outbox cannot tell the rollups what they missed, then apply what
    is pending; the members' activity (segments) follows the same horizon, giving way to a
    segmentation run that holds it."""
    if await needs_rebuild(rt):
        log.warning("analytics.rebuilding")
        await rebuild(rt)
    projection = await apply_pending(rt)
    if projection.horizon is None:
        return
    if await activity_lost(rt):
        log.warning("analytics.rebuilding_activity")
        await rebuild_member_activity(rt, projection.horizon)
    await apply_activity(rt, projection.horizon, wait=False)


async def run_rollups(rt: Runtime, stop: asyncio.Event) -> None:
    """Keep the rollups up to date until ``stop`` is set; errors are logged and retried with
    back-off. Any number of processes may run it (batches are serialised by a lock)."""

    def failed(failures: int, retry_in: float) -> None:
        log.exception("analytics.projector_failed", failures=failures, retry_in=retry_in)

    await poll(
        stop,
        lambda: rollup_round(rt),
        every=rt.settings.leaderboard_poll_seconds,
        on_failure=failed,
    )


def rollups_running(rt: Runtime) -> AbstractAsyncContextManager[None]:
    """Run the rollup projector in the background for the duration of the block (worker)."""
    return running("jifen-analytics", lambda stop: run_rollups(rt, stop))
