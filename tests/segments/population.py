"""A small population for segment-conditioned tests: one member hibernating, one new."""

from __future__ import annotations

from datetime import timedelta

from app.clock import FrozenClock
from app.members import usecases as members
from app.runtime import Runtime


async def sleeper_and_newcomer(runtime: Runtime, clock: FrozenClock) -> tuple[int, int]:
    """A member registered 40 days ago and never active (hibernating once segmented), and one
    registered now (new)."""
    now = clock.now()
    clock.set(now - timedelta(days=40))
    sleeper = (await members.register_member(runtime, channel="pos", external_ref="s")).member.id
    clock.set(now)
    newcomer = (await members.register_member(runtime, channel="pos", external_ref="n")).member.id
    return sleeper, newcomer
