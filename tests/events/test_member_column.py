"""The outbox's member_id (migration 0044): every writer sets it, a member topic's is its member,
a signal a member's write raised is stored with that member, a programme event with 0."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.clock import FrozenClock
from app.earning import usecases as earning
from app.earning.commands import RecordPurchase
from app.events.outbox import PROGRAMME, SIGNAL_PREFIX, append_event, event_member
from app.events.tables import events
from app.runtime import Runtime
from tests.earning.test_purchase_lock import BASKET, MORNING, POS
from tests.test_migrations import _migration
from tests.test_statements import programme


def test_the_member_of_an_event_is_named_or_its_topics_or_the_programmes() -> None:
    assert event_member("member:42") == 42
    assert event_member(f"{SIGNAL_PREFIX}challenge:3") == PROGRAMME == 0
    assert event_member(f"{SIGNAL_PREFIX}challenge:3", 42) == 42
    assert event_member("leaderboard:weekly") == PROGRAMME


async def _refused(conn: AsyncConnection, statement: str) -> str:
    with pytest.raises(IntegrityError) as refused:
        async with conn.begin_nested():  # rolled back to here: the connection goes on
            await conn.execute(text(statement))
    return str(refused.value.orig)


async def test_a_writer_must_name_the_member_and_a_member_topics_is_its_own(
    rolled_back: AsyncConnection,
) -> None:
    without = "INSERT INTO events (topic, type, payload) VALUES ('member:7', 't', '{}')"
    assert "member_id" in await _refused(rolled_back, without)  # NOT NULL
    wrong = "INSERT INTO events (member_id, topic, type, payload) VALUES (8, 'member:7', 't', '{}')"
    assert "ck_events_member_topic" in await _refused(rolled_back, wrong)
    await append_event(rolled_back, "member:7", "t", {})
    await append_event(rolled_back, f"{SIGNAL_PREFIX}x", "t", {}, member_id=7)
    await append_event(rolled_back, "jobs:x", "t", {})
    found = await rolled_back.execute(select(events.c.topic, events.c.member_id))
    assert sorted(map(tuple, found)) == [("jobs:x", 0), ("member:7", 7), ("signal:x", 7)]


async def test_every_sql_function_that_appends_events_names_their_member(
    rolled_back: AsyncConnection,
) -> None:
    """A function recreated from a body older than migration 0044 would fail at run time only
    on the path that reaches its INSERT: this finds it in the catalogue at once."""
    sources = await rolled_back.execute(
        text(
            "SELECT p.proname, p.prosrc FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'public' AND p.prosrc ~* 'INSERT INTO events\\s*\\('"
        )
    )
    inserts = {
        (name, columns)
        for name, source in sources
        for columns in re.findall(r"INSERT INTO events\s*\(([^)]*)\)", source, re.IGNORECASE)
    }
    assert len({name for name, _ in inserts}) >= 4  # the ledger's, the mall's, the check-in's
    assert [(n, c) for n, c in sorted(inserts) if "member_id" not in c] == []


async def test_the_migration_backfills_member_topics_and_leaves_the_rest_to_the_programme(
    rolled_back: AsyncConnection,
) -> None:
    await rolled_back.execute(text("ALTER TABLE events DROP CONSTRAINT ck_events_member_topic"))
    await rolled_back.execute(
        text(
            "INSERT INTO events (member_id, topic, type, payload) VALUES"
            " (0, 'member:5', 'old', '{}'), (0, 'signal:sales', 'old', '{}'),"
            " (0, 'leaderboard:w', 'old', '{}')"
        )
    )
    await rolled_back.execute(text(_migration("0044_events_member_id").BACKFILL))
    found = await rolled_back.execute(
        select(events.c.topic, events.c.member_id).where(events.c.type == "old")
    )
    assert sorted(map(tuple, found)) == [("leaderboard:w", 0), ("member:5", 5), ("signal:sales", 0)]


async def test_a_purchases_events_signals_included_are_stored_with_its_member(
    runtime: Runtime, clock: FrozenClock
) -> None:
    """The sales signal and the challenges' signals a purchase raises live on its member's
    shard: the purchase stays a one-shard transaction under Citus."""
    clock.set(MORNING)
    member = await programme(runtime)
    async with runtime.engine.connect() as conn:
        last = await conn.scalar(select(events.c.id).order_by(events.c.id.desc()).limit(1))
    command = RecordPurchase(member_id=member, channel="pos", order_id="o-1", lines=BASKET)
    await earning.record_purchase(runtime, POS, command)
    async with runtime.engine.connect() as conn:
        found = list(
            await conn.execute(select(events.c.topic, events.c.member_id).where(events.c.id > last))
        )
    topics = {topic for topic, _ in found}
    assert f"member:{member}" in topics and "signal:sales" in topics
    assert any(topic.startswith("signal:challenge:") for topic in topics), topics
    assert {member_id for _, member_id in found} == {member}
