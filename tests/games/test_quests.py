"""Quest levels against the real database: a member advances level by level as the clock moves
(a locked level's task does not count), each level paid once through the reward log, and bad
definitions refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from app.engagement import usecases as engagement
from app.errors import DomainError, ErrorCode
from app.events.outbox import member_topic
from app.events.stream import read_events
from app.games import quests
from app.games.quests import LevelSpec, QuestSpec
from app.games.tables import quests as quests_table
from app.ledger import usecases as ledger
from app.runtime import Runtime
from tests.mall.conftest import STAFF, MakeMember, assert_audit_clean, member_actor
from tests.statements import counting


def daily(name: str) -> dict[str, object]:
    """A task the member completes itself, once a business day."""
    return {
        "name": name,
        "kind": "repeatable",
        "trigger": "manual",
        "period": "day",
        "max_completions": 1,
    }


async def make_quest(runtime: Runtime, **changes: object) -> quests.Quest:
    for code in ("visit", "share", "review"):
        try:
            await engagement.create_task(runtime, STAFF, code, daily(code))
        except DomainError as made:
            assert made.code is ErrorCode.ALREADY_EXISTS  # a second quest of the same tasks
    now = runtime.clock.now()
    values: dict[str, object] = {
        "code": "闯关",
        "name": "Three levels",
        "starts_at": now - timedelta(hours=1),
        "ends_at": now + timedelta(days=3),
        "levels": (LevelSpec("visit", 10), LevelSpec("share", 20), LevelSpec("review", 30)),
    }
    values.update(changes)
    return await quests.create_quest(runtime, STAFF, QuestSpec(**values))  # type: ignore[arg-type]


async def complete(runtime: Runtime, member: int, task: str) -> object:
    try:
        return await engagement.complete_task(runtime, member_actor(member), member, task)
    except DomainError as refused:
        return refused


async def standing(runtime: Runtime, member: int, quest_id: int) -> tuple[int, str | None]:
    found = (await quests.quest_standings(runtime, member, quest_id=quest_id))[0]
    return found.finished, None if found.current is None else found.current.task_code


def next_day(runtime: Runtime) -> None:
    runtime.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]


async def test_a_quest_advances_level_by_level_with_the_clock(
    runtime: Runtime, make_member: MakeMember
) -> None:
    quest = await make_quest(runtime)
    member = await make_member("m", 0)
    assert await standing(runtime, member, quest.id) == (0, "visit")

    await complete(runtime, member, "share")  # level 2 is locked: its task does not count
    assert await standing(runtime, member, quest.id) == (0, "visit")
    await complete(runtime, member, "visit")
    assert await standing(runtime, member, quest.id) == (1, "share")
    again = await complete(runtime, member, "share")  # done today already, before it unlocked
    assert isinstance(again, DomainError) and again.code is ErrorCode.LIMIT_REACHED
    assert await standing(runtime, member, quest.id) == (1, "share")

    next_day(runtime)
    await complete(runtime, member, "visit")  # level 1 again: finished already, pays nothing
    await complete(runtime, member, "share")
    assert await standing(runtime, member, quest.id) == (2, "review")

    next_day(runtime)
    await complete(runtime, member, "review")
    assert await standing(runtime, member, quest.id) == (3, None)
    assert (await ledger.get_balance(runtime, member)).available == 10 + 20 + 30

    events = await read_events(runtime.engine, member_topic(member), 0, limit=1000)
    finished = [e.payload["level"] for e in events if e.type == "quest.level_finished"]
    assert finished == [1, 2, 3]
    assert [e.type for e in events if e.type == "quest.completed"] == ["quest.completed"]
    await assert_audit_clean(runtime)


async def test_a_quest_past_its_end_advances_no_more(
    runtime: Runtime, make_member: MakeMember
) -> None:
    quest = await make_quest(runtime, ends_at=runtime.clock.now() + timedelta(hours=12))
    member = await make_member("m", 0)
    await complete(runtime, member, "visit")
    assert await standing(runtime, member, quest.id) == (1, "share")
    next_day(runtime)
    await complete(runtime, member, "share")
    assert await standing(runtime, member, quest.id) == (1, "share")
    assert (await ledger.get_balance(runtime, member)).available == 10
    await assert_audit_clean(runtime)


async def set_quest_enabled(runtime: Runtime, quest_id: int, enabled: bool) -> None:
    async with runtime.engine.begin() as conn:
        await conn.execute(
            update(quests_table).where(quests_table.c.id == quest_id).values(enabled=enabled)
        )


async def test_a_task_in_no_enabled_quest_reads_no_levels_until_one_has_it(
    runtime: Runtime, make_member: MakeMember
) -> None:
    """Which tasks are levels is cached by the quests' generation (read with the progress): a
    completion of a task in no enabled quest reads no levels, and the quest's change is seen by
    the very next completion."""
    quest = await make_quest(runtime)
    await set_quest_enabled(runtime, quest.id, False)
    member = await make_member("m", 0)
    await complete(runtime, member, "visit")  # fills the cache: no enabled quest has a level
    next_day(runtime)
    with counting(runtime) as statements:
        await complete(runtime, member, "visit")
    assert not [s for s in statements if "quest_levels.task_id" in s], "\n\n".join(statements)
    assert await standing(runtime, member, quest.id) == (0, "visit")

    await set_quest_enabled(runtime, quest.id, True)
    next_day(runtime)
    await complete(runtime, member, "visit")
    assert await standing(runtime, member, quest.id) == (1, "share")
    assert (await ledger.get_balance(runtime, member)).available == 10
    await assert_audit_clean(runtime)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"levels": ()}, "levels"),
        ({"levels": (LevelSpec("visit"), LevelSpec("visit"))}, "levels"),
        ({"levels": (LevelSpec("visit", -1),)}, "levels"),
        ({"levels": (LevelSpec("no-such-task"),)}, "task"),
        ({"code": ""}, "code"),
        ({"ends_at": None, "starts_at": None}, None),
    ],
)
async def test_bad_definitions_are_refused_and_change_nothing(
    runtime: Runtime, changes: dict[str, object], field: str | None
) -> None:
    if "starts_at" in changes:  # an end before the start
        now = runtime.clock.now()
        changes = {"starts_at": now, "ends_at": now - timedelta(days=1)}
        field = "endsAt"
    with pytest.raises(DomainError) as refused:
        await make_quest(runtime, **changes)
    assert refused.value.field == field
    assert await quests.list_quests(runtime) == []


async def test_only_the_first_level_may_be_a_one_off_task(runtime: Runtime) -> None:
    await engagement.create_task(
        runtime, STAFF, "once", {"name": "once", "kind": "one_off", "trigger": "manual"}
    )
    with pytest.raises(DomainError) as refused:
        await make_quest(runtime, levels=(LevelSpec("visit"), LevelSpec("once")))
    assert refused.value.code is ErrorCode.INVALID_INPUT
    made = await make_quest(runtime, code="ok", levels=(LevelSpec("once"), LevelSpec("visit")))
    assert [lv.task_code for lv in made.levels] == ["once", "visit"]
