"""Group commit for earnPoints (app/ledger/groupcommit.py, ledger_post_credits()): earns that
arrive together share one statement, each with the outcome it would have had alone; a lone
earn goes out at once. Every test ends with the ledger audit (``_audit_after``)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import pytest
from asyncpg import NotNullViolationError

from app.errors import DomainError, ErrorCode
from app.ledger import usecases as ledger
from app.ledger.commands import Earn
from app.ledger.groupcommit import POST_CREDITS, CreditBatcher
from app.ledger.models import Balance, Entry
from app.ledger.onetrip import BATCHER, POST_CREDIT
from app.members import usecases as members
from app.members.models import MemberStatus
from app.runtime import Runtime
from tests.ledger.test_service import STAFF, _audit_after, key, new_member  # noqa: F401
from tests.statements import counting


def earn(rt: Runtime, member_id: int, amount: int, idempotency_key: str, **kwargs: Any) -> Any:
    return ledger.earn_points(
        rt, STAFF, Earn(member_id, amount, "batched", **kwargs), idempotency_key=idempotency_key
    )


def batcher(rt: Runtime) -> CreditBatcher:
    found: CreditBatcher = rt.caches[BATCHER]
    return found


def alone(rt: Runtime) -> Runtime:
    """The same runtime with group commit off: each earn its own statement."""
    settings = rt.settings.model_copy(update={"earn_batch_max": 0})
    return Runtime(settings=settings, engine=rt.engine, redis=rt.redis, clock=rt.clock)


async def outcomes(*earns: Any) -> list[Any]:
    """Each earn's entry id, or its refusal's code, or its error's type."""
    done = await asyncio.gather(*earns, return_exceptions=True)
    return [
        r.id if isinstance(r, Entry) else r.code if isinstance(r, DomainError) else type(r)
        for r in done
    ]


async def test_one_batch_answers_each_posting_its_own_outcome(runtime: Runtime) -> None:
    a, b = await new_member(runtime, "a"), await new_member(runtime, "b")
    closed = await new_member(runtime, "closed")
    await members.set_status(
        runtime, member_id=closed, status=MemberStatus.CLOSED, reason="left", actor="staff:x"
    )
    before = (await earn(runtime, a, 5, "used-before")).id
    twice = key()
    sent = batcher(runtime).batches

    with counting(runtime) as statements:
        got = await outcomes(
            earn(runtime, a, 10, key()),  # posted
            earn(runtime, 10**9, 10, key()),  # unknown member: declined, refused alone
            earn(runtime, b, 20, twice),  # one key twice in the batch: posted ...
            earn(runtime, b, 20, twice),  # ... and replayed
            earn(runtime, closed, 10, key()),  # closed: declined, refused alone
            earn(runtime, a, 5, "used-before"),  # replay of an earlier earn
            earn(runtime, a, 6, "used-before"),  # the same key, another request
            earn(runtime, b, 30, key(), counter_account="no-such-account"),  # fails in SQL
            earn(runtime, a, 40, key()),  # posted, after the failure
        )

    assert batcher(runtime).batches == sent + 1  # the nine went out together
    posted_a, _, posted_b, replayed_b, _, replay, _, _, posted_a2 = got
    assert got[1] is ErrorCode.NOT_FOUND
    assert replayed_b == posted_b
    assert got[4] is ErrorCode.MEMBER_NOT_ACTIVE
    assert replay == before
    assert got[6] is ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert got[7] is NotNullViolationError  # as alone (below): only it was sent again alone
    assert len({posted_a, posted_b, posted_a2, before}) == 4
    assert sum(statement == POST_CREDITS for statement in statements) == 1
    assert sum(statement == POST_CREDIT for statement in statements) == 1
    assert await ledger.get_balance(runtime, a) == Balance(55, 0, 0, 0)
    assert await ledger.get_balance(runtime, b) == Balance(20, 0, 0, 0)
    assert await ledger.get_balance(runtime, closed) == Balance(0, 0, 0, 0)

    with pytest.raises(NotNullViolationError):
        await earn(alone(runtime), b, 30, key(), counter_account="no-such-account")


async def test_a_lone_earn_goes_out_on_the_next_turn_of_the_loop(runtime: Runtime) -> None:
    """No timer: the batch is sent within the loop turns the earn itself takes (counted, not
    timed), and it holds the one earn."""
    m = await new_member(runtime)
    await earn(runtime, m, 1, key())  # the batcher made, its connection warm
    sent = batcher(runtime).batches
    posting = asyncio.create_task(earn(runtime, m, 10, key()))
    for _ in range(3):
        await asyncio.sleep(0)  # one turn of the loop each, no time passes
    assert batcher(runtime).batches == sent + 1
    entry = await posting
    assert entry.balance_after == 11
    assert batcher(runtime).batches == sent + 1


async def test_earns_arriving_while_batches_are_out_go_together(runtime: Runtime) -> None:
    m = await new_member(runtime)
    await outcomes(*(earn(runtime, m, 1, key()) for _ in range(100)))
    assert batcher(runtime).batches <= 6  # 32 at most each: at least 4
    assert await ledger.get_balance(runtime, m) == Balance(100, 0, 0, 0)


async def test_a_race_of_batches_from_two_processes_posts_each_key_once(
    runtime: Runtime,
) -> None:
    """Two runtimes (two API processes' batchers) race earns on a few members, the same key
    sent up to three times, over real connections: each key credits once, the rest replay."""
    other = Runtime(
        settings=runtime.settings, engine=runtime.engine, redis=runtime.redis, clock=runtime.clock
    )
    people = [await new_member(runtime, f"m-{i}") for i in range(4)]
    rng = random.Random(21)
    requests = [(rng.choice(people), rng.randint(1, 50), key()) for _ in range(120)]
    sent = [r for r in requests for _ in range(rng.choice((1, 1, 2, 3)))]
    rng.shuffle(sent)

    got = await outcomes(
        *(earn(rng.choice((runtime, other)), m, amount, k) for m, amount, k in sent)
    )

    assert all(isinstance(r, int) for r in got), Counter(map(str, got))
    by_key: dict[str, set[int]] = {}
    for (_, _, k), entry_id in zip(sent, got, strict=True):
        by_key.setdefault(k, set()).add(entry_id)
    assert all(len(ids) == 1 for ids in by_key.values())
    assert len({ids.pop() for ids in by_key.values()}) == len(requests)
    for m in people:
        expected = sum(amount for who, amount, _ in requests if who == m)
        assert await ledger.get_balance(runtime, m) == Balance(expected, 0, 0, 0)
    assert batcher(runtime).batches + batcher(other).batches < len(sent)
