"""Group commit for the check-in's one statement (app/engagement/onetrip.py,
engagement_check_ins()): check-ins that arrive together share one statement, each member with
the answer it would have had alone; a lone check-in goes out at once."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from app.clock import FrozenClock
from app.engagement import onetrip, usecases
from app.engagement.checkins import CheckInResult
from app.engagement.tables import engagement_rewards, sign_ins
from app.errors import DomainError
from app.groupcommit import ALONE, Batcher
from app.ledger import usecases as ledger
from app.ledger.audit import audit_ledger
from app.ledger.commands import Earn
from app.ledger.models import MemberStatus
from app.members import usecases as members
from app.runtime import Runtime
from tests.engagement.conftest import STAFF, NewMember, actor_of
from tests.engagement.test_checkin_onetrip import MORNING, _ordinary, _written
from tests.statements import counting

UNKNOWN = 10**9  # no such member: no account to lock


def batched(rt: Runtime, cap: int) -> Runtime:
    """The same engine, Redis and clock, as another API process would have them, with
    ``JIFEN_CHECKIN_BATCH_MAX`` at ``cap`` (0: each check-in its own statement)."""
    settings = rt.settings.model_copy(update={"checkin_batch_max": cap})
    return Runtime(settings=settings, engine=rt.engine, redis=rt.redis, clock=rt.clock)


def batcher(rt: Runtime) -> Batcher[Any]:
    found: Batcher[Any] = rt.caches[onetrip.BATCHER]
    return found


def answer(done: Any) -> Any:
    """A check-in's answer, alike for any member: what it paid, its refusal, or declined."""
    if isinstance(done, CheckInResult):
        return ("signed", done.sign_in.streak, done.sign_in.points, done.entry is not None)
    if isinstance(done, DomainError):
        return done.code
    return "declined" if done is None else type(done)


async def one_trip_answers(rt: Runtime, member_ids: list[int]) -> list[Any]:
    done = await asyncio.gather(
        *(onetrip.check_in_in_one_trip(rt, actor_of(m), m) for m in member_ids),
        return_exceptions=True,
    )
    return [answer(d) for d in done]


async def _mixed_members(
    rt: Runtime, clock: FrozenClock, new_member: NewMember, tag: str
) -> list[int]:
    """Check-ins of every kind, in one list: fresh, already signed in, frozen, back from
    dormancy, unknown, the same member twice, then fresh again."""
    clock.set(MORNING - timedelta(days=rt.settings.engagement_winback_dormant_days + 1))
    dormant = await new_member(f"{tag}-dormant")
    clock.set(MORNING)
    signed, fresh, twice, last = [await new_member(f"{tag}-{n}") for n in "sftl"]
    frozen = await new_member(f"{tag}-frozen")
    await members.set_status(
        rt, member_id=frozen, status=MemberStatus.FROZEN, reason="checked", actor="staff:x"
    )
    await _ordinary(rt, signed)  # signed in already (and the one-trip caches filled)
    return [fresh, signed, frozen, dormant, UNKNOWN, twice, twice, last]


async def test_a_batch_answers_each_member_as_the_single_statement_does(
    runtime: Runtime, clock: FrozenClock, new_member: NewMember
) -> None:
    alone = batched(runtime, 0)
    single = await one_trip_answers(alone, await _mixed_members(alone, clock, new_member, "one"))
    mixed = await _mixed_members(runtime, clock, new_member, "many")
    await one_trip_answers(runtime, [mixed[1]])  # the batcher made: refused, nothing written
    sent = batcher(runtime).batches

    with counting(runtime) as statements:
        together = await one_trip_answers(runtime, mixed)

    signed = ("signed", 1, 5, True)
    refused, declined = "ALREADY_EXISTS", "declined"
    expected = [signed, refused, declined, declined, declined, signed, refused, signed]
    assert [str(a) for a in together] == [str(a) for a in expected]
    # Alone, the same answers; which of one member's two is refused is the race's to decide
    # (in the batch, the first in the list signs in: the members go in the list's order).
    assert single[:5] + single[7:] == expected[:5] + expected[7:]
    assert Counter(map(str, single[5:7])) == Counter(map(str, expected[5:7]))
    assert batcher(runtime).batches == sent + 1  # the eight went out together
    assert statements == [onetrip.CHECK_INS]
    assert await _written(runtime, mixed[0]) == await _written(runtime, mixed[-1])
    assert await _written(runtime, mixed[5]) == await _written(runtime, mixed[-1])
    for declined in mixed[2:4]:  # nothing written for the declined
        assert await _sign_ins(runtime, declined) == 0
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report.render()


async def _sign_ins(rt: Runtime, member: int) -> int:
    async with rt.engine.connect() as conn:
        count = await conn.scalar(
            select(func.count()).select_from(sign_ins).where(sign_ins.c.member_id == member)
        )
    return int(count or 0)


async def test_a_check_in_failing_in_the_batch_fails_alone_and_its_neighbours_commit(
    runtime: Runtime, clock: FrozenClock, new_member: NewMember
) -> None:
    clock.set(MORNING)
    a, b, c, d = [await new_member(n) for n in "abcd"]
    await _ordinary(runtime, a)
    calls = [onetrip._call(runtime, actor_of(m), m, one_trip=True) for m in (b, c, d)]
    arguments = [call.arguments for call in calls if call is not None]
    broken = list(arguments[1])
    broken[5] = "[]"  # a schedule of no day: its streak's position divides by zero

    outcomes = await onetrip.check_in_many(
        runtime.engine, [arguments[0], tuple(broken), arguments[2]]
    )

    first, failed, last = outcomes
    assert failed is ALONE
    assert first is not None and first is not ALONE and first["out_outcome"] == "signed"
    assert last is not None and last is not ALONE and last["out_outcome"] == "signed"
    assert [await _sign_ins(runtime, m) for m in (b, c, d)] == [1, 0, 1]
    # Sent again alone, it fails as the single statement does; its day is still to sign in.
    assert await onetrip.check_in_in_one_trip(runtime, actor_of(c), c) is not None
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report.render()


async def test_a_lone_check_in_goes_out_on_the_next_turn_of_the_loop(
    runtime: Runtime, clock: FrozenClock, new_member: NewMember
) -> None:
    """No timer: the batch is sent within the loop turns the check-in itself takes (counted,
    not timed), and it holds the one check-in."""
    clock.set(MORNING)
    a, b, c = [await new_member(n) for n in "abc"]
    await _ordinary(runtime, a)
    assert await onetrip.check_in_in_one_trip(runtime, actor_of(b), b) is not None
    sent = batcher(runtime).batches
    checking_in = asyncio.create_task(onetrip.check_in_in_one_trip(runtime, actor_of(c), c))
    for _ in range(3):
        await asyncio.sleep(0)  # one turn of the loop each, no time passes
    assert batcher(runtime).batches == sent + 1
    assert answer(await checking_in) == ("signed", 1, 5, True)
    assert batcher(runtime).batches == sent + 1


async def test_with_batching_off_each_check_in_is_its_own_statement(
    runtime: Runtime, clock: FrozenClock, new_member: NewMember
) -> None:
    alone = batched(runtime, 0)
    clock.set(MORNING)
    a, b, c = [await new_member(n) for n in "abc"]
    await _ordinary(alone, a)

    with counting(alone) as statements:
        assert await one_trip_answers(alone, [b, c]) == [("signed", 1, 5, True)] * 2

    assert statements == [onetrip.CHECK_IN] * 2
    assert onetrip.BATCHER not in alone.caches


async def checked_in(rt: Runtime, member: int) -> str:
    """A check-in through the use case: "ok" or its refusal's code."""
    try:
        await usecases.check_in(rt, actor_of(member), member)
    except DomainError as error:
        return error.code.value
    return "ok"


async def _two_processes(
    runtime: Runtime, clock: FrozenClock, new_member: NewMember, tag: str, count: int
) -> tuple[Runtime, list[int]]:
    """Another API process's runtime (its own batchers), the caches filled, ``count`` members."""
    other = batched(runtime, runtime.settings.checkin_batch_max)
    clock.set(MORNING)
    await _ordinary(runtime, await new_member(f"{tag}-first"))
    return other, [await new_member(f"{tag}-{i}") for i in range(count)]


async def test_a_race_of_check_ins_from_two_processes_pays_each_member_once(
    runtime: Runtime, clock: FrozenClock, new_member: NewMember
) -> None:
    """Two runtimes (two API processes' batchers) race check-ins through the use case over
    real connections, each member sent up to four times: one sign-in and one reward each, the
    rest refused, then the ledger audit."""
    other, people = await _two_processes(runtime, clock, new_member, "m", 24)
    rng = random.Random(21)
    sent = [m for m in people for _ in range(rng.choice((1, 1, 2, 4)))]
    rng.shuffle(sent)

    got = await asyncio.gather(*(checked_in(rng.choice((runtime, other)), m) for m in sent))

    by_member: dict[int, Counter[str]] = {m: Counter() for m in people}
    for m, outcome in zip(sent, got, strict=True):
        by_member[m][outcome] += 1
    for answers in by_member.values():
        assert answers["ok"] == 1 and answers["ok"] + answers["ALREADY_EXISTS"] == answers.total()
    async with runtime.engine.connect() as conn:
        rewards = Counter(
            await conn.scalars(
                select(engagement_rewards.c.member_id).where(
                    engagement_rewards.c.member_id.in_(people)
                )
            )
        )
    assert rewards == Counter(people)
    assert [await _sign_ins(runtime, m) for m in people] == [1] * len(people)
    assert batcher(runtime).batches + batcher(other).batches < len(sent)
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report.render()


async def test_check_in_and_earn_batches_racing_over_the_same_members_each_post_once(
    runtime: Runtime, clock: FrozenClock, new_member: NewMember
) -> None:
    """Check-ins' batches and earns' batches lock the same accounts (both in member order):
    raced from two processes over a few members, each check-in pays once, each earn posts
    once, every balance adds up, then the ledger audit."""
    other, people = await _two_processes(runtime, clock, new_member, "r", 8)
    rng = random.Random(7)
    earns = [(rng.choice(people), rng.randint(1, 9), f"race-{n}") for n in range(60)]
    check_ins = [m for m in people for _ in range(2)]

    async def earn(m: int, amount: int, key: str) -> int:
        note = Earn(m, amount, "raced with check-ins")
        entry = await ledger.earn_points(
            rng.choice((runtime, other)), STAFF, note, idempotency_key=key
        )
        return entry.amount

    racing = [checked_in(rng.choice((runtime, other)), m) for m in check_ins] + [
        earn(*e) for e in earns
    ]
    rng.shuffle(racing)
    got = await asyncio.gather(*racing)

    assert Counter(g for g in got if isinstance(g, str)) == {"ok": 8, "ALREADY_EXISTS": 8}
    for m in people:
        earned = sum(amount for who, amount, _ in earns if who == m)
        assert (await ledger.get_balance(runtime, m)).available == 5 + earned
    assert [await _sign_ins(runtime, m) for m in people] == [1] * len(people)
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report.render()
