"""The rollups and the members' activity rebuild when the outbox purged events they never
applied, and only then: a rolled-back id at the outbox's head is no purge."""

from __future__ import annotations

from uuid import uuid4

from app.analytics.runner import activity_lost, needs_rebuild, rollup_round
from app.ledger import usecases as ledger
from app.ledger.commands import Earn
from app.ledger.models import Actor
from app.members import usecases as members
from app.runtime import Runtime
from tests.outbox import purge_outbox, roll_back_an_event

STAFF = Actor("staff:tester", "test", frozenset({"admin"}))


async def earn(rt: Runtime, amount: int) -> None:
    registered = await members.register_member(rt, channel="test", external_ref=uuid4().hex)
    command = Earn(member_id=registered.member.id, amount=amount, reason="test")
    await ledger.earn_points(rt, STAFF, command, idempotency_key=uuid4().hex)


async def test_a_rolled_back_id_makes_no_rebuild_a_real_purge_does(runtime: Runtime) -> None:
    await rollup_round(runtime)  # the first round rebuilds: there is no cursor yet
    assert not await needs_rebuild(runtime)
    await roll_back_an_event(runtime)  # a gap at the head of a fresh outbox
    await earn(runtime, 10)
    assert not await needs_rebuild(runtime)
    assert not await activity_lost(runtime)
    await rollup_round(runtime)
    assert await purge_outbox(runtime) > 0  # all applied, then purged
    await roll_back_an_event(runtime)  # a gap right after the purge
    await earn(runtime, 5)
    assert not await needs_rebuild(runtime)
    assert not await activity_lost(runtime)
    await earn(runtime, 7)  # the worker is stopped meanwhile, and retention passes it
    assert await purge_outbox(runtime) > 0
    assert await needs_rebuild(runtime)
    assert await activity_lost(runtime)
    await rollup_round(runtime)
    assert not await needs_rebuild(runtime)
    assert not await activity_lost(runtime)
