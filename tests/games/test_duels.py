"""PK duels against the real database: decided, tied and expired by the clock, accept and
decline racing on real connections, and refusals that change nothing."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app.errors import DomainError, ErrorCode
from app.events.outbox import member_topic
from app.events.stream import read_events
from app.games import duels
from app.games.demo import DEMO_DUEL_RULES
from app.games.duelrules import Challenge, DuelMetric, DuelOutcome, DuelStatus, TieRule, longest_run
from app.games.jobs import close_games
from app.games.tables import duels as duels_table
from app.ledger import usecases as ledger
from app.ledger.audit import audit_ledger
from app.ledger.commands import Earn
from app.runtime import Runtime
from tests.mall.conftest import STAFF, MakeMember, assert_audit_clean, member_actor

# The demo's rules, with a day to accept and windows of 3 days at most.
RULES = replace(DEMO_DUEL_RULES, code="pk", accept_hours=24, max_hours=72)


async def rules(runtime: Runtime, **changes: Any) -> None:
    await duels.save_duel_rules(runtime, STAFF, replace(RULES, **changes))


async def challenge(
    runtime: Runtime, a: int, b: int, stake: int = 200, key: str = "c", **changes: Any
) -> duels.Answered | DomainError:
    asked = Challenge(
        a, b, changes.pop("metric", DuelMetric.POINTS), stake, changes.pop("hours", 24)
    )
    try:
        return await duels.challenge_duel(
            runtime, member_actor(a), changes.pop("code", "pk"), asked, key
        )
    except DomainError as refused:
        return refused


async def answer(
    runtime: Runtime, member: int, duel_id: int, accept: bool, key: str
) -> duels.Answered | DomainError:
    try:
        return await duels.answer_duel(runtime, member_actor(member), member, duel_id, accept, key)
    except DomainError as refused:
        return refused


_keys = itertools.count()


async def earn(runtime: Runtime, member: int, amount: int) -> None:
    await ledger.earn_points(
        runtime,
        STAFF,
        Earn(member_id=member, amount=amount, reason="buy"),
        idempotency_key=f"earn-{next(_keys)}",
    )


async def balances(runtime: Runtime, *members: int) -> list[tuple[int, int]]:
    found = await ledger.get_balances(runtime, list(members))
    return [(found[m].available, found[m].held) for m in members]


def advance(runtime: Runtime, delta: timedelta) -> None:
    runtime.clock.advance(delta)  # type: ignore[attr-defined]


async def accepted_duel(runtime: Runtime, a: int, b: int, stake: int = 200) -> int:
    made = await challenge(runtime, a, b, stake)
    assert isinstance(made, duels.Answered), made
    advance(runtime, timedelta(minutes=1))  # the opening points are not in the window
    taken = await answer(runtime, b, made.duel.id, True, "yes")
    assert isinstance(taken, duels.Answered) and taken.duel.status is DuelStatus.OPEN, taken
    return made.duel.id


async def test_a_duel_decided_at_its_end_gives_the_winner_both_stakes_and_the_reward(
    runtime: Runtime, make_member: MakeMember
) -> None:
    await rules(runtime)
    a, b = await make_member("a", 1_000), await make_member("b", 1_000)
    made = await challenge(runtime, a, b)
    assert isinstance(made, duels.Answered) and made.duel.status is DuelStatus.PENDING
    assert await balances(runtime, a, b) == [(800, 200), (1_000, 0)]
    await earn(runtime, a, 500)  # before the accept: not in the window
    advance(runtime, timedelta(minutes=1))
    taken = await answer(runtime, b, made.duel.id, True, "yes")
    assert isinstance(taken, duels.Answered) and taken.duel.ends_at is not None
    assert await balances(runtime, a, b) == [(1_300, 200), (800, 200)]
    advance(runtime, timedelta(hours=1))
    await earn(runtime, a, 300)
    await earn(runtime, b, 100)
    live = await duels.scored_duel(runtime, made.duel.id)
    assert (live.challenger_score, live.opponent_score) == (300, 100)
    assert (await close_games(runtime))["duels_closed"] == 0  # the window still runs

    advance(runtime, timedelta(hours=23))
    assert (await close_games(runtime))["duels_closed"] == 1
    closed = await duels.DUELS.get(runtime, made.duel.id)
    assert (closed.outcome, closed.winner_id) == (DuelOutcome.WON, a)
    assert (closed.challenger_score, closed.opponent_score) == (300, 100)
    # a: 1000 + 500 + 300 + b's stake 200 + reward 50; b: 1000 + 100 - 200
    assert await balances(runtime, a, b) == [(2_050, 0), (900, 0)]
    for member, kind in ((a, "duel.won"), (b, "duel.won")):
        events = await read_events(runtime.engine, member_topic(member), 0, limit=1000)
        assert [e.type for e in events if e.type.startswith("duel.")] == [
            "duel.challenged",
            "duel.accepted",
            kind,
        ]
    await assert_audit_clean(runtime)


@pytest.mark.parametrize(("tie_rule", "share"), [(TieRule.SPLIT, 25), (TieRule.REFUND, 0)])
async def test_a_tie_returns_the_stakes_and_splits_the_reward_or_not(
    runtime: Runtime, make_member: MakeMember, tie_rule: TieRule, share: int
) -> None:
    await rules(runtime, tie_rule=tie_rule, reward_points=51)
    a, b = await make_member("a", 1_000), await make_member("b", 1_000)
    duel_id = await accepted_duel(runtime, a, b)
    await earn(runtime, a, 40)
    await earn(runtime, b, 40)
    advance(runtime, timedelta(days=1))
    assert (await close_games(runtime))["duels_closed"] == 1
    closed = await duels.DUELS.get(runtime, duel_id)
    assert (closed.outcome, closed.winner_id) == (DuelOutcome.TIED, None)
    assert await balances(runtime, a, b) == [(1_040 + share, 0), (1_040 + share, 0)]
    await assert_audit_clean(runtime)


async def test_a_challenge_not_accepted_in_time_expires_and_releases_the_stake(
    runtime: Runtime, make_member: MakeMember
) -> None:
    await rules(runtime)
    a, b = await make_member("a", 1_000), await make_member("b", 1_000)
    made = await challenge(runtime, a, b, 300)
    assert isinstance(made, duels.Answered)
    advance(runtime, timedelta(hours=23, minutes=59))
    assert (await close_games(runtime))["duels_expired"] == 0
    advance(runtime, timedelta(minutes=1))
    late = await answer(runtime, b, made.duel.id, True, "late")  # the job has not run yet
    assert isinstance(late, DomainError) and late.code is ErrorCode.ENDED
    assert await balances(runtime, a, b) == [(700, 300), (1_000, 0)]
    assert (await close_games(runtime))["duels_expired"] == 1
    expired = await duels.DUELS.get(runtime, made.duel.id)
    assert (expired.status, expired.outcome) == (DuelStatus.CLOSED, DuelOutcome.EXPIRED)
    assert await balances(runtime, a, b) == [(1_000, 0), (1_000, 0)]
    events = await read_events(runtime.engine, member_topic(a), 0, limit=100)
    assert "duel.expired" in [e.type for e in events]
    await assert_audit_clean(runtime)


async def test_accept_and_decline_racing_leave_exactly_one_answer_per_duel(
    runtime: Runtime, make_member: MakeMember
) -> None:
    await rules(runtime)
    pairs = [
        (await make_member(f"a{n}", 1_000), await make_member(f"b{n}", 1_000)) for n in range(12)
    ]
    made = []
    for a, b in pairs:
        duel = await challenge(runtime, a, b, 100, key=f"c{a}")
        assert isinstance(duel, duels.Answered)
        made.append((duel.duel.id, b))
    results = await asyncio.gather(
        *(
            answer(runtime, b, duel_id, accept, f"{accept}-{n}")
            for duel_id, b in made
            for n, accept in enumerate((True, False, True, False))
        )
    )
    for i, (duel_id, _) in enumerate(made):
        mine = results[4 * i : 4 * i + 4]
        answered = [r for r in mine if isinstance(r, duels.Answered)]
        assert len(answered) == 1, mine
        refused = [r for r in mine if isinstance(r, DomainError)]
        assert {r.code for r in refused} == {ErrorCode.INVALID_STATE}, refused
        final = await duels.DUELS.get(runtime, duel_id)
        assert final.status is answered[0].duel.status
    for (duel_id, b), (a, _) in zip(made, pairs, strict=True):
        final = await duels.DUELS.get(runtime, duel_id)
        held = 100 if final.status is DuelStatus.OPEN else 0
        assert await balances(runtime, a, b) == [(1_000 - held, held), (1_000 - held, held)]
    await assert_audit_clean(runtime)


async def test_bad_input_is_refused_with_a_code_and_changes_nothing(
    runtime: Runtime, make_member: MakeMember
) -> None:
    await rules(runtime, metrics=(DuelMetric.POINTS,))
    a, b, c = [await make_member(r, 1_000) for r in "abc"]
    poor = await make_member("poor", 50)
    made = await challenge(runtime, a, b, 100, key="ok")
    assert isinstance(made, duels.Answered)
    before = await balances(runtime, a, b, c, poor)
    cases = [
        ({"b": a}, ErrorCode.INVALID_INPUT),  # itself
        ({"metric": DuelMetric.PURCHASES}, ErrorCode.INVALID_INPUT),  # not allowed here
        ({"stake": 501}, ErrorCode.INVALID_INPUT),
        ({"stake": -1}, ErrorCode.INVALID_INPUT),
        ({"hours": 73}, ErrorCode.INVALID_INPUT),
        ({"hours": 0}, ErrorCode.INVALID_INPUT),
        ({"b": 999_999}, ErrorCode.NOT_FOUND),
        ({"code": "no-such-rules"}, ErrorCode.NOT_FOUND),
        ({"code": "'; DROP TABLE duels; --"}, ErrorCode.NOT_FOUND),
        ({"a": poor, "stake": 100}, ErrorCode.INSUFFICIENT_POINTS),
        ({"stake": 300}, ErrorCode.IDEMPOTENCY_KEY_REUSED),  # the key "ok" asked other terms
    ]
    for n, (changes, code) in enumerate(cases):
        who, whom = changes.pop("a", a), changes.pop("b", b)
        key = "ok" if code is ErrorCode.IDEMPOTENCY_KEY_REUSED else f"bad-{n}"
        result = await challenge(runtime, who, whom, changes.pop("stake", 100), key, **changes)
        assert isinstance(result, DomainError) and result.code is code, (changes, result)
    wrong = await answer(runtime, c, made.duel.id, True, "not-mine")
    assert isinstance(wrong, DomainError) and wrong.code is ErrorCode.NOT_FOUND
    unknown = await answer(runtime, b, 999_999, True, "unknown")
    assert isinstance(unknown, DomainError) and unknown.code is ErrorCode.NOT_FOUND
    replay = await challenge(runtime, a, b, 100, key="ok")
    assert isinstance(replay, duels.Answered) and replay.replayed
    assert replay.duel.id == made.duel.id
    assert await balances(runtime, a, b, c, poor) == before
    async with runtime.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(duels_table)) == 1
    declined = await answer(runtime, b, made.duel.id, False, "no")
    assert isinstance(declined, duels.Answered)
    assert declined.duel.outcome is DuelOutcome.DECLINED
    again = await answer(runtime, b, made.duel.id, True, "too-late")
    assert isinstance(again, DomainError) and again.code is ErrorCode.INVALID_STATE
    assert await balances(runtime, a, b) == [(1_000, 0), (1_000, 0)]
    with pytest.raises(DomainError) as bad_rules:
        await rules(runtime, code="x", max_stake=-5)
    assert bad_rules.value.code is ErrorCode.INVALID_INPUT
    await assert_audit_clean(runtime)


def test_the_sign_in_streak_is_the_longest_run_of_days() -> None:
    d = date(2026, 12, 1)
    days = [d, d + timedelta(days=1), d + timedelta(days=3), d + timedelta(days=4)]
    assert longest_run([*days, d + timedelta(days=5), d + timedelta(days=4)]) == 3
    assert longest_run([]) == 0


async def test_the_audit_catches_a_duel_that_no_longer_ties_to_the_ledger(
    runtime: Runtime, make_member: MakeMember
) -> None:
    await rules(runtime)
    a, b = await make_member("a", 1_000), await make_member("b", 1_000)
    duel_id = await accepted_duel(runtime, a, b)
    await earn(runtime, a, 10)
    advance(runtime, timedelta(days=1))
    assert (await close_games(runtime))["duels_closed"] == 1
    await assert_audit_clean(runtime)
    async with runtime.engine.begin() as conn:  # the row says the other member won
        await conn.execute(
            duels_table.update().where(duels_table.c.id == duel_id).values(winner_id=b)
        )
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    failed = {check.name for check in report.checks if not check.ok}
    assert failed == {
        "a duel's holds are its members', of its stake, and follow the duel",
        "a won duel's winner earned the loser's stake, and each reward is its earn",
    }


# The opponent's side has no foreign key (migration 0050: a duel lives with its challenger under
# Citus); each corruption of it, and the check that must report it, with the others it trips.
OPPONENT_CORRUPTIONS = {
    "UPDATE duels SET opponent_reward_entry_id = 999999999 WHERE id = {first}": {
        "a duel's opponent is a member, and its entries exist"
    },
    "UPDATE duels SET opponent_id = 999999 WHERE id = {first}": {
        "a duel's opponent is a member, and its entries exist",
        "a duel's holds are its members', of its stake, and follow the duel",
    },
    "UPDATE duels SET opponent_hold_id = (SELECT opponent_hold_id FROM duels WHERE id = {first})"
    " WHERE id = {second}": {"a hold stakes one duel"},
}


@pytest.mark.parametrize("corruption", list(OPPONENT_CORRUPTIONS))
async def test_the_audit_checks_the_opponents_side_that_no_foreign_key_holds(
    runtime: Runtime, make_member: MakeMember, corruption: str
) -> None:
    await rules(runtime)
    a, b, c = [await make_member(r, 1_000) for r in "abc"]
    first = await accepted_duel(runtime, a, b)
    made = await challenge(runtime, c, b, key="second")
    assert isinstance(made, duels.Answered), made
    taken = await answer(runtime, b, made.duel.id, True, "yes-second")
    assert isinstance(taken, duels.Answered), taken
    await assert_audit_clean(runtime)
    async with runtime.engine.begin() as conn:
        await conn.execute(text(corruption.format(first=first, second=made.duel.id)))
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert {check.name for check in report.checks if not check.ok} == OPPONENT_CORRUPTIONS[
        corruption
    ]
