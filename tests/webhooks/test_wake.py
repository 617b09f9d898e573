"""The sender wakes when events commit: a message goes out at once, not at the next poll."""

from __future__ import annotations

from collections.abc import Callable

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
