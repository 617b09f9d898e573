"""Segment-conditioned tasks (docs/ENGAGEMENT.md): only members the last segmentation run placed
in one of the task's segments make progress; a manual task says so to the others."""

from __future__ import annotations

from typing import Any

import pytest

from app.clock import FrozenClock
from app.earning import usecases as earning
from app.earning.commands import RecordEvent
from app.engagement import usecases
from app.errors import DomainError, ErrorCode
from app.ledger import usecases as ledger
from app.runtime import Runtime
from app.segments.usecases import recompute_segments
from tests.engagement.conftest import STAFF, actor_of
from tests.engagement.test_tracker import POS
from tests.segments.population import sleeper_and_newcomer

COME_BACK = {
    "name": "Come back three times",
    "kind": "challenge",
    "trigger": "event",
    "event": "visit",
    "target": 3,
    "segments": ["hibernating"],
    "reward": {"points": 100},
}
CHECK_IN = {
    "name": "Tell us you are back",
    "kind": "one_off",
    "trigger": "manual",
    "segments": ["hibernating", "at_risk"],
    "reward": {"points": 10},
}


async def test_only_the_tasks_segment_makes_progress(
    runtime: Runtime, clock: FrozenClock, programme: None
) -> None:
    sleeper, newcomer = await sleeper_and_newcomer(runtime, clock)
    await usecases.create_task(runtime, STAFF, "come-back", COME_BACK)
    await usecases.create_task(runtime, STAFF, "check-in", CHECK_IN)
    await recompute_segments(runtime)  # sleeper: hibernating; newcomer: new
    for member in (sleeper, newcomer):
        for n in range(3):
            await earning.record_event(
                runtime,
                POS,
                RecordEvent(
                    member_id=member, channel="app", event_id=f"{member}-{n}", name="visit"
                ),
            )
    done = await usecases.complete_task(runtime, actor_of(sleeper), sleeper, "check-in")
    assert done.completed == 1
    with pytest.raises(DomainError) as refused:
        await usecases.complete_task(runtime, actor_of(newcomer), newcomer, "check-in")
    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_INPUT, "task")
    assert (await ledger.get_balance(runtime, sleeper)).total == 110
    assert (await ledger.get_balance(runtime, newcomer)).total == 0


async def test_a_task_with_an_unknown_segment_is_refused(runtime: Runtime, programme: None) -> None:
    with pytest.raises(DomainError) as refused:
        await usecases.create_task(runtime, STAFF, "bad", {**COME_BACK, "segments": ["vip"]})
    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_INPUT, "segments")


async def test_a_segments_tasks_are_listed_only_to_its_members(
    runtime: Runtime, clock: FrozenClock, programme: None
) -> None:
    sleeper, newcomer = await sleeper_and_newcomer(runtime, clock)
    await usecases.create_task(runtime, STAFF, "come-back", COME_BACK)
    await usecases.create_task(runtime, STAFF, "for-all", {**CHECK_IN, "segments": None})
    await recompute_segments(runtime)  # sleeper: hibernating; newcomer: new

    def codes(found: list[Any]) -> set[str]:
        return {item.task.code for item in found}

    assert codes(await usecases.task_centre(runtime, sleeper)) == {"come-back", "for-all"}
    assert codes(await usecases.task_centre(runtime, newcomer)) == {"for-all"}
    assert codes(await usecases.list_tasks(runtime, for_member=newcomer)) == {"for-all"}
    assert codes(await usecases.list_tasks(runtime)) == {"come-back", "for-all"}
