"""The projector's loop, for the web lifespan or the worker: ``run_projector(rt, stop, wake)``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager

from app.background import poll, running
from app.leaderboards.boards import BOARDS
from app.leaderboards.projector import apply_pending, events_lost_after, read_cursor
from app.leaderboards.rebuild import rebuild
from app.logging import get_logger
from app.runtime import Runtime

log = get_logger("app.leaderboards.runner")


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

    def failed(failures: int, retry_in: float) -> None:
        log.exception("leaderboards.projector_failed", failures=failures, retry_in=retry_in)

    log.info("leaderboards.projector_started", boards=names)
    await poll(
        stop,
        lambda: projector_round(rt, names),
        every=rt.settings.leaderboard_poll_seconds,
        on_failure=failed,
        wake=wake,
    )
    log.info("leaderboards.projector_stopped")


async def projector_round(rt: Runtime, names: list[str]) -> None:
    """Rebuild the boards whose cursor is lost or whose next events were purged, then apply
    what is pending to every board."""
    for name in names:
        cursor = await read_cursor(rt.redis, name)
        if cursor is None:
            log.warning("leaderboards.cursor_missing_rebuilding", board=name)
            await rebuild(rt, name)
        elif await events_lost_after(rt, cursor):
            log.warning("leaderboards.events_purged_rebuilding", board=name, cursor=cursor)
            await rebuild(rt, name)
    await apply_pending(rt, names)


def projector_running(rt: Runtime) -> AbstractAsyncContextManager[None]:
    """Run the projector in the background for the duration of the block (web app, worker)."""
    return running("jifen-leaderboards", lambda stop: run_projector(rt, stop))
