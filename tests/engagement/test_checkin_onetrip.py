"""The check-in in one statement (app/engagement/onetrip.py): it writes exactly what the ordinary
path writes, and declines — nothing written — whenever something would have to follow it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.clock import FrozenClock
from app.db import unit_of_work
from app.engagement import hooks, onetrip, usecases
from app.engagement.checkins import SignIns
from app.engagement.demo import seed_engagement
from app.engagement.tables import engagement_profiles, engagement_rewards, sign_ins, task_progress
from app.errors import DomainError, ErrorCode
from app.events.tables import events
from app.ledger.audit import audit_ledger
from app.ledger.tables import accounts, entries, lots
from app.runtime import Runtime
from app.segments.tables import member_segments
from tests.engagement.conftest import STAFF, NewMember, actor_of
from tests.outbox import published_promptly, slow_polling_relay
from tests.statements import counting

MORNING = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
SIGN_IN_TASK = {
    "name": "Sign in 3 days this month",
    "kind": "one_off",
    "trigger": "sign_in",
    "metric": "days",
    "target": 3,
    "reward": {"points": 10},
}


async def _ordinary(runtime: Runtime, member: int) -> None:
    """The check-in as the ordinary path makes it (and the caches it fills)."""
    async with unit_of_work(runtime.engine) as conn:
        result = await SignIns(conn, runtime.clock, runtime.settings).check_in(
            member, actor=actor_of(member)
        )
        await hooks.signed_in(
            runtime, conn, actor_of(member), member_id=member, points=result.sign_in.points
        )


async def _after_an_ordinary_check_in(
    runtime: Runtime, clock: FrozenClock, new_member: NewMember
) -> tuple[int, int]:
    """Two members, the first signed in by the ordinary path (the caches filled)."""
    clock.set(MORNING)
    a, b = await new_member("a"), await new_member("b")
    await _ordinary(runtime, a)
    return a, b


def _plain(row: Any, member: int, *drop: str) -> dict[str, Any]:
    """A row with the member's id spelled alike for every member and ids left out."""
    text = repr({k: v for k, v in row._mapping.items() if k not in drop})
    return {"row": text.replace(f"member:{member}", "member:M").replace(f"'{member}'", "'M'")}


async def _written(runtime: Runtime, member: int) -> list[Any]:
    async with runtime.engine.connect() as conn:
        rows: list[Any] = []
        for table, drop in (
            (sign_ins, ("member_id", "entry_id")),
            (entries, ("id", "member_id")),
            (engagement_rewards, ("id", "member_id", "entry_id")),
            (lots, ("id", "account_id", "member_id", "entry_id")),
            (accounts, ("id", "member_id", "code", "created_at")),
            (engagement_profiles, ("member_id", "invite_code")),
            (task_progress, ("member_id",)),
        ):
            found = await conn.execute(select(table).where(table.c.member_id == member))
            rows += [(table.name, _plain(r, member, *drop)) for r in found]
        found = await conn.execute(
            select(events.c.topic, events.c.type, events.c.payload)
            .where(
                (events.c.topic == f"member:{member}")
                # a challenge's board signal, shared by every member that feeds it
                | (
                    events.c.topic.startswith("signal:challenge:")
                    & (events.c.payload["member_id"].as_integer() == member)
                ),
                events.c.type != "member.registered",
            )
            .order_by(events.c.id)
        )
        for r in found:
            payload = {k: v for k, v in r.payload.items() if k != "member_id"}
            payload.get("entry", {}).pop("id", None)
            rows.append((r.type, r.topic.replace(f"member:{member}", "member:M"), repr(payload)))
    return rows


async def test_one_statement_writes_what_the_ordinary_path_writes(
    runtime: Runtime, clock: FrozenClock, new_member: NewMember
) -> None:
    a, b = await _after_an_ordinary_check_in(runtime, clock, new_member)

    with counting(runtime) as statements:
        done = await onetrip.check_in_in_one_trip(runtime, actor_of(b), b)

    assert done is not None and len(statements) == 1
    assert (done.sign_in.streak, done.sign_in.points) == (1, 5)
    assert done.entry is not None and done.entry.amount == 5
    assert await _written(runtime, b) == await _written(runtime, a)
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report.render()


async def test_the_streak_continues_and_a_second_sign_in_is_refused_in_one_statement(
    runtime: Runtime, clock: FrozenClock, member: int
) -> None:
    clock.set(MORNING)
    await _ordinary(runtime, member)
    paid = []
    for _ in range(7):
        clock.advance(timedelta(days=1))
        done = await onetrip.check_in_in_one_trip(runtime, actor_of(member), member)
        assert done is not None
        paid.append((done.sign_in.streak, done.sign_in.points))

    assert paid == [(2, 5), (3, 5), (4, 5), (5, 5), (6, 5), (7, 25), (8, 5)]
    with counting(runtime) as statements, pytest.raises(DomainError) as refused:
        await onetrip.check_in_in_one_trip(runtime, actor_of(member), member)
    assert refused.value.code is ErrorCode.ALREADY_EXISTS and len(statements) == 1


async def test_a_task_created_after_the_cache_was_filled_declines_and_is_fed(
    runtime: Runtime, clock: FrozenClock, new_member: NewMember
) -> None:
    clock.set(MORNING)
    a, b = await new_member("a"), await new_member("b")
    await _ordinary(runtime, a)  # the caches: no task at all
    await usecases.create_task(runtime, STAFF, "three-days", SIGN_IN_TASK)

    assert await onetrip.check_in_in_one_trip(runtime, actor_of(b), b) is None
    await usecases.check_in(runtime, actor_of(b), b)
    async with runtime.engine.connect() as conn:
        progress = await conn.scalar(
            select(task_progress.c.progress).where(task_progress.c.member_id == b)
        )
    assert progress == 1
    # The process knows of the task now: the one statement feeds it, until the day it completes.
    clock.advance(timedelta(days=1))
    assert await onetrip.check_in_in_one_trip(runtime, actor_of(b), b) is not None
    clock.advance(timedelta(days=1))
    assert await onetrip.check_in_in_one_trip(runtime, actor_of(b), b) is None
    await usecases.check_in(runtime, actor_of(b), b)
    async with runtime.engine.connect() as conn:
        sources = await conn.scalars(
            select(engagement_rewards.c.source).where(engagement_rewards.c.member_id == b)
        )
        assert sorted(sources) == ["checkin", "checkin", "checkin", "task"]


COUNT_TASK = {
    "name": "Sign in twice a week, twice",
    "kind": "repeatable",
    "trigger": "sign_in",
    "metric": "count",
    "target": 2,
    "period": "week",
    "max_completions": 2,
    "reward": {"points": 3},
}
POINTS_TASK = {
    "name": "Earn 12 points this month",
    "kind": "challenge",
    "trigger": "points",
    "metric": "points",
    "target": 12,
    "period": "month",
    "leaderboard": True,
    "reward": {"points": 7},
}
ONE = 1  # the check-in was engagement_check_in() alone
DECLINED = 0  # it declined (a task completes): the ordinary path followed it


@pytest.mark.parametrize(
    ("tasks", "days"),
    [
        # The demo's seven-day streak and monthly points challenge (its board's signal topic):
        # the streak completes on day 7.
        ("demo", [ONE, ONE, ONE, ONE, ONE, ONE, DECLINED, ONE]),
        # Distinct days: completes on day 3, then has nothing more to count.
        ({"three-days": SIGN_IN_TASK}, [ONE, ONE, DECLINED, ONE]),
        ({"twice-a-week": COUNT_TASK}, [ONE, DECLINED, ONE, DECLINED, ONE]),
        ({"twelve-points": POINTS_TASK}, [ONE, ONE, DECLINED, ONE]),
    ],
    ids=["demo", "days", "count", "points"],
)
async def test_with_sign_in_tasks_one_statement_writes_what_the_ordinary_path_writes(
    runtime: Runtime,
    clock: FrozenClock,
    new_member: NewMember,
    tasks: str | dict[str, dict[str, Any]],
    days: list[int],
) -> None:
    if tasks == "demo":
        await seed_engagement(runtime, STAFF)
    else:
        for code, spec in dict(tasks).items():
            await usecases.create_task(runtime, STAFF, code, spec)
    clock.set(MORNING)
    a, b = await new_member("a"), await new_member("b")

    made = []
    for day in range(1, len(days) + 1):
        await _ordinary(runtime, a)
        with counting(runtime) as statements:
            done = await usecases.check_in(runtime, actor_of(b), b)
        assert "engagement_check_in" in statements[0]
        made.append(ONE if len(statements) == 1 else DECLINED)
        assert done.entry is not None
        assert await _written(runtime, b) == await _written(runtime, a), f"day {day}"
        clock.advance(timedelta(days=1))

    assert made == days
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report.render()


async def test_a_segments_task_is_fed_in_one_statement_only_to_its_segment(
    runtime: Runtime, clock: FrozenClock, new_member: NewMember
) -> None:
    await usecases.create_task(
        runtime, STAFF, "champions-days", SIGN_IN_TASK | {"segments": ["champions"]}
    )
    clock.set(MORNING)
    members = [await new_member(ref) for ref in ("a", "b", "c", "d")]
    async with unit_of_work(runtime.engine) as conn:
        await conn.execute(
            member_segments.insert(),
            [
                {
                    "member_id": m,
                    "segment": "champions",
                    "since": MORNING,
                    "frequency": 1,
                    "monetary": 1,
                }
                for m in members[:2]
            ],
        )
    a, b, c, d = members
    await _ordinary(runtime, a)
    await _ordinary(runtime, c)
    for member in (b, d):
        with counting(runtime) as statements:
            await usecases.check_in(runtime, actor_of(member), member)
        assert len(statements) == 1

    assert await _written(runtime, b) == await _written(runtime, a)
    assert await _written(runtime, d) == await _written(runtime, c)
    async with runtime.engine.connect() as conn:
        fed = await conn.scalars(select(task_progress.c.member_id).order_by("member_id"))
        assert list(fed) == [a, b]


async def test_a_member_back_from_dormancy_takes_the_ordinary_path_and_its_win_back(
    runtime: Runtime, clock: FrozenClock, new_member: NewMember
) -> None:
    _, b = await _after_an_ordinary_check_in(runtime, clock, new_member)
    clock.advance(timedelta(days=runtime.settings.engagement_winback_dormant_days))

    assert await onetrip.check_in_in_one_trip(runtime, actor_of(b), b) is None
    await usecases.check_in(runtime, actor_of(b), b)
    async with runtime.engine.connect() as conn:
        sources = (
            await conn.scalars(
                select(engagement_rewards.c.source)
                .where(engagement_rewards.c.member_id == b)
                .order_by(engagement_rewards.c.id)
            )
        ).all()
    assert sources == ["checkin", "winback"]


async def test_a_day_with_a_gift_declines_to_the_ordinary_path(
    runtime: Runtime, clock: FrozenClock, member: int
) -> None:
    schedules = await usecases.list_schedules(runtime)
    calendar = next(s for s, _ in schedules if s.code == "calendar")
    await usecases.save_schedule(
        runtime, STAFF, "calendar", calendar.name, calendar.as_spec(), activate=True
    )
    clock.set(MORNING)
    await _ordinary(runtime, member)
    clock.advance(timedelta(days=1))
    assert await onetrip.check_in_in_one_trip(runtime, actor_of(member), member) is not None
    clock.advance(timedelta(days=1))  # day 3 of the calendar: 10 points and a small gift

    assert await onetrip.check_in_in_one_trip(runtime, actor_of(member), member) is None
    result = await usecases.check_in(runtime, actor_of(member), member)
    assert result.sign_in.gifts == ("small gift",)


async def test_racing_check_ins_with_the_demo_tasks_pay_one_reward_and_feed_once(
    runtime: Runtime, clock: FrozenClock, new_member: NewMember
) -> None:
    await seed_engagement(runtime, STAFF)
    a, b = await _after_an_ordinary_check_in(runtime, clock, new_member)

    async def attempt() -> str:
        try:
            await usecases.check_in(runtime, actor_of(b), b)
        except DomainError as error:
            return error.code.value
        return "ok"

    # Day 1 in one statement each; day 7 completes the streak: declined, the ordinary path.
    for day in range(1, 8):
        if day > 1:
            clock.advance(timedelta(days=1))
            await _ordinary(runtime, a)
        outcomes = await asyncio.gather(*(attempt() for _ in range(30)))
        assert sorted(set(outcomes)) == ["ALREADY_EXISTS", "ok"] and outcomes.count("ok") == 1
        assert await _written(runtime, b) == await _written(runtime, a), f"day {day}"

    async with runtime.engine.connect() as conn:
        paid = await conn.scalars(
            select(engagement_rewards.c.key).where(engagement_rewards.c.member_id == b)
        )
        assert len([key for key in paid if key.startswith("checkin:")]) == 7
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report.render()


async def test_a_demo_check_in_appends_its_five_events_in_the_ordinary_paths_order(
    runtime: Runtime, clock: FrozenClock, new_member: NewMember
) -> None:
    """Five events, one transaction's, none between them: each topic's order and the ids' order
    across them are the ordinary path's (the sign-in's task, then the points' challenge, its
    signal after its member event) — what the webhooks, the member's subscription, the board's
    projector and the challenge board read (docs/DECISIONS.md: none folded, none skipped)."""
    await seed_engagement(runtime, STAFF)
    _, member = await _after_an_ordinary_check_in(runtime, clock, new_member)

    with counting(runtime) as statements:
        done = await usecases.check_in(runtime, actor_of(member), member)

    assert done.entry is not None and len(statements) == 1
    async with runtime.engine.connect() as conn:
        found = await conn.execute(
            select(events.c.id, events.c.topic, events.c.type, events.c.payload)
            .where(
                events.c.type != "member.registered",
                events.c.payload["member_id"].as_integer() == member,
            )
            .order_by(events.c.id)
        )
        rows = found.all()
    topic = f"member:{member}"
    challenge = next(r.payload["task_id"] for r in rows if r.topic.startswith("signal:"))
    assert [(r.topic, r.type, r.payload.get("task")) for r in rows] == [
        (topic, "points.earned", None),
        (topic, "signin.checked_in", None),
        (topic, "task.progressed", "seven-day-streak"),
        (topic, "task.progressed", "monthly-points"),
        (f"signal:challenge:{challenge}", "task.progressed", "monthly-points"),
    ]
    async with runtime.engine.connect() as conn:  # no other event among them
        between = events.c.id.between(rows[0].id, rows[-1].id)
        assert await conn.scalar(select(func.count()).where(between)) == len(rows)
    assert rows[3].payload == rows[4].payload


async def test_a_check_in_in_one_statement_wakes_the_relay(
    runtime: Runtime, clock: FrozenClock, new_member: NewMember
) -> None:
    # The function's events are written inside PostgreSQL, unseen by the engine's statement
    # hooks: the writing call wakes the relay itself (app/db.py ``autocommit_fetch``).
    _, b = await _after_an_ordinary_check_in(runtime, clock, new_member)
    async with slow_polling_relay(runtime):
        assert await onetrip.check_in_in_one_trip(runtime, actor_of(b), b) is not None
        await published_promptly(runtime)
