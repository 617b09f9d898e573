"""The segmentation run on the database: RFM scores and segments of a small population worked
out by hand, the history of changes, the counts, and the SQL rules equal to the pure ones."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from sqlalchemy import text

from app.clock import FrozenClock
from app.ledger import usecases as ledger
from app.ledger.commands import Earn, Spend
from app.ledger.models import Actor, MemberStatus
from app.members import usecases as members
from app.runtime import Runtime
from app.segments import usecases as segments
from app.segments.policy import Scores, Segment, classify, classify_sql

STAFF = Actor("staff:tester", "test", frozenset({"admin"}), kind="staff")
NOON = datetime(2027, 3, 1, 4, 0, tzinfo=UTC)  # noon in Shanghai


async def register(rt: Runtime, clock: FrozenClock, days_ago: int, channel: str = "pos") -> int:
    clock.set(NOON - timedelta(days=days_ago))
    done = await members.register_member(rt, channel=channel, external_ref=uuid4().hex)
    return done.member.id


async def earn(rt: Runtime, clock: FrozenClock, member: int, days_ago: int, *amounts: int) -> None:
    clock.set(NOON - timedelta(days=days_ago))
    for amount in amounts:
        await ledger.earn_points(
            rt,
            STAFF,
            Earn(member_id=member, amount=amount, reason="t"),
            idempotency_key=uuid4().hex,
        )


async def test_scores_and_segments_of_a_population_worked_out_by_hand(
    runtime: Runtime, clock: FrozenClock
) -> None:
    a, b, c, d, e, f = [await register(runtime, clock, 200) for _ in range(6)]
    asleep = await register(runtime, clock, 200, "wechat")  # no activity in the window
    closed = await register(runtime, clock, 200)
    # (days since last activity, activities, points): six members scored.
    await earn(runtime, clock, a, 2, 100, 100, 100, 100, 100)  # 2 days, 5 acts, 500
    await earn(runtime, clock, b, 10, 100, 100, 100, 100)  # 10 days, 4 acts, 400
    await earn(runtime, clock, c, 50, 300, 300, 300)  # 50 days, 3 acts, 900
    await earn(runtime, clock, d, 100, 100, 100)  # 100 days, 2 acts, 200
    await earn(runtime, clock, e, 150, 100)  # 150 days, 1 act, 100
    await earn(runtime, clock, f, 2, 50)  # 2 days (a tie with a), 1 act (a tie with e), 50
    await earn(runtime, clock, closed, 1, 10_000)  # closed: neither scored nor placed
    await earn(runtime, clock, asleep, 400, 10_000)  # before the 365-day window
    clock.set(NOON - timedelta(days=1))
    await ledger.spend_points(
        runtime, STAFF, Spend(member_id=closed, amount=10_000, reason="t"), idempotency_key="x"
    )
    await members.set_status(
        runtime, member_id=closed, status=MemberStatus.CLOSED, reason="left", actor="staff:t"
    )
    newcomer = await register(runtime, clock, 10, "wechat")
    clock.set(NOON)

    run = await segments.recompute_segments(runtime)

    assert (run.members, run.changed) == (8, 8)
    found = await segments.member_segments(runtime, [a, b, c, d, e, f, asleep, newcomer, closed])
    # Recency by day (e < d < c < b < a = f: k = 1, 2, 3, 4, 6, 6 of n = 6; score ceil(5k/6)),
    # frequency (e = f < d < c < b < a) and points (f < e < d < b < a < c) likewise.
    assert {
        m: (s.recency_score, s.frequency_score, s.monetary_score, s.segment)
        for m, s in found.items()
    } == {
        a: (5, 5, 5, Segment.CHAMPIONS),
        b: (4, 5, 4, Segment.CHAMPIONS),
        c: (3, 4, 5, Segment.LOYAL),
        d: (2, 3, 3, Segment.AT_RISK),
        e: (1, 2, 2, Segment.HIBERNATING),
        f: (5, 2, 1, Segment.POTENTIAL),
        asleep: (None, None, None, Segment.HIBERNATING),
        newcomer: (None, None, None, Segment.NEW),
    }
    assert (found[c].frequency, found[c].monetary, str(found[c].last_active_on)) == (
        3,
        900,
        "2027-01-10",
    )
    assert await segments.segment_counts(runtime) == {
        Segment.NEW: 1,
        Segment.CHAMPIONS: 2,
        Segment.LOYAL: 1,
        Segment.POTENTIAL: 1,
        Segment.AT_RISK: 1,
        Segment.HIBERNATING: 2,
    }
    wechat = await segments.segment_counts(runtime, "wechat")
    assert {s: n for s, n in wechat.items() if n} == {Segment.NEW: 1, Segment.HIBERNATING: 1}

    # Run again, nothing changed: no history, the same "since".
    clock.set(NOON + timedelta(hours=1))
    again = await segments.recompute_segments(runtime)
    assert (again.members, again.changed) == (8, 0)
    assert (await segments.member_segments(runtime, [a]))[a].since == NOON

    # Closing e leaves it out (a change to no segment) and rescores the rest.
    await members.set_status(
        runtime, member_id=e, status=MemberStatus.CLOSED, reason="left", actor="staff:t"
    )
    await segments.recompute_segments(runtime)
    assert e not in await segments.member_segments(runtime, [e])
    assert [(h.from_segment, h.to_segment) for h in await segments.segment_history(runtime, e)] == [
        (Segment.HIBERNATING, None),
        (None, Segment.HIBERNATING),
    ]


async def test_the_sql_rules_are_the_pure_rules(runtime: Runtime) -> None:
    case = classify_sql(is_new="is_new", recency="r", frequency="f", monetary="m")
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            text(
                f"SELECT r, f, m, is_new, {case} AS segment FROM generate_series(1, 5) r, "
                "generate_series(1, 5) f, generate_series(1, 5) m, "
                "(VALUES (true), (false)) n(is_new)"
            )
        )
        found = {(r.r, r.f, r.m, r.is_new): r.segment for r in rows}
    expected = {
        (r, f, m, new): classify(Scores(r, f, m), is_new=new).value
        for r, f, m in itertools.product(range(1, 6), repeat=3)
        for new in (True, False)
    }
    assert found == expected
