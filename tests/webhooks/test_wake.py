"""The sender wakes when events commit: a message goes out at once, not at the next poll."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sqlalchemy import event

from app.db import unit_of_work
from app.events.outbox import append_event, member_topic
from app.members.service import channels_of_members
from app.runtime import Runtime
from app.webhooks.runner import webhooks_running
from tests.eventually import eventually
from tests.webhooks.conftest import create_endpoint, earn, member, tuned
from tests.webhooks.receiver import Receiver


def delivered(receiver: Receiver, count: int) -> Callable[[], bool]:
    return lambda: len(receiver.delivered()) >= count


async def test_a_commit_wakes_the_sender_long_before_its_poll(
    wh_runtime: Runtime, receiver: Receiver
) -> None:
    rt = tuned(wh_runtime, webhook_poll_seconds=600.0)  # the poll alone: ten minutes
    receiver.secrets = [(await create_endpoint(rt, receiver.url, ["points.earned"])).secret]
    member_id = await member(rt)
    async with webhooks_running(rt, channels_of_members):
        # The sender's first round (at start, or when its listener connects) may deliver the
        # first earn; each later one waits for delivery after the one before, so by the last
        # the listener is up and only a commit's notification can wake the sender in time.
        for n in range(1, 4):
            await earn(rt, member_id, 10, f"k-{n}")
            await eventually(delivered(receiver, n), within=30)
    assert [r.payload["type"] for r in receiver.delivered()] == ["points.earned"] * 3


async def test_a_stream_of_commits_is_dispatched_in_gathered_passes(
    wh_runtime: Runtime, receiver: Receiver
) -> None:
    # Under a stream of commits a pass starts at most every webhook_dispatch_gather_seconds and
    # takes the commits of that time together; each commit its own pass would be one per commit.
    # Half a second here, well above what a pass takes on a loaded machine, so that a pass per
    # wake-up would show.
    gather = 0.5
    rt = tuned(wh_runtime, webhook_poll_seconds=600.0, webhook_dispatch_gather_seconds=gather)
    receiver.secrets = [(await create_endpoint(rt, receiver.url, ["points.earned"])).secret]
    member_id = await member(rt)
    passes = 0

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        nonlocal passes
        passes += "FROM webhook_cursor" in statement and "SKIP LOCKED" in statement

    sync_engine = rt.engine.sync_engine
    async with webhooks_running(rt, channels_of_members):
        await earn(rt, member_id, 10, "k-0")
        await eventually(delivered(receiver, 1), within=30)  # listening, and quiet again
        event.listen(sync_engine, "before_cursor_execute", seen)
        try:
            began = time.perf_counter()
            await asyncio.gather(*(commits(rt, member_id, 20) for _ in range(4)))
            await eventually(delivered(receiver, 81), within=30)
            elapsed = time.perf_counter() - began
        finally:
            event.remove(sync_engine, "before_cursor_execute", seen)
    # A machine slower than this one only makes fewer passes: the bound cannot fail for it.
    assert passes <= elapsed / gather + 2, (passes, elapsed)


async def commits(rt: Runtime, member_id: int, count: int) -> None:
    """``count`` commits of a member's event, one after the other, as fast as they go."""
    for n in range(count):
        async with unit_of_work(rt.engine) as conn:
            await append_event(conn, member_topic(member_id), "points.earned", {"n": n})
