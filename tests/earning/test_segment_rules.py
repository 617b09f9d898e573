"""Segment-conditioned earning rules (docs/EARNING.md): "hibernating members earn double" and
"回归即可得100积分" pay only the members the last segmentation run placed in that segment."""

from __future__ import annotations

import pytest

from app.clock import FrozenClock
from app.earning import usecases
from app.earning.commands import RecordEvent, RecordPurchase
from app.errors import DomainError, ErrorCode
from app.runtime import Runtime
from app.segments.usecases import recompute_segments
from tests.earning.conftest import BASE, POS, AddRules, lines
from tests.segments.population import sleeper_and_newcomer

DOUBLE = {
    "name": "hibernating members earn double",
    "trigger": "purchase",
    "conditions": {"segments": ["hibernating"]},
    "effect": {"kind": "multiplier", "factor": "2"},
}
WELCOME_BACK = {
    "name": "回归即可得100积分",
    "trigger": "event",
    "event": "visit",
    "conditions": {"segments": ["hibernating", "at_risk"]},
    "effect": {"kind": "fixed", "points": 100},
}


async def test_a_segment_conditioned_rule_pays_only_that_segment(
    runtime: Runtime, clock: FrozenClock, add_rules: AddRules
) -> None:
    sleeper, newcomer = await sleeper_and_newcomer(runtime, clock)
    await add_rules(BASE, DOUBLE, WELCOME_BACK)
    await recompute_segments(runtime)  # sleeper: hibernating; newcomer: new

    points = {}
    for member in (sleeper, newcomer):
        bought = await usecases.record_purchase(
            runtime,
            POS,
            RecordPurchase(
                member_id=member, channel="pos", order_id=f"o{member}", lines=lines("100")
            ),
        )
        visited = await usecases.record_event(
            runtime,
            POS,
            RecordEvent(member_id=member, channel="app", event_id=f"v{member}", name="visit"),
        )
        points[member] = (bought.purchase.points, visited.points)
    assert points == {sleeper: (200, 100), newcomer: (100, 0)}
    skipped = visited.breakdown["skipped"]
    assert [s["reason"] for s in skipped] == ["condition not met: segment"]


async def test_an_unknown_segment_is_refused(runtime: Runtime, add_rules: AddRules) -> None:
    with pytest.raises(DomainError) as refused:
        await add_rules({**DOUBLE, "conditions": {"segments": ["vip"]}})
    assert (refused.value.code, refused.value.field) == (
        ErrorCode.INVALID_INPUT,
        "conditions.segments",
    )
    rules = await usecases.list_rules(runtime)
    assert rules == []
