"""The group commit's batcher (app/groupcommit.py) answers every request it took exactly once,
whatever befalls its batch: the statement fails, answers the wrong count of rows, or is
stopped; a caller who stopped waiting before its batch went out is not sent; a request from
another event loop is refused before it is queued. Each batch's statement is a real one, on
the session's PostgreSQL; what goes wrong after it is the test's send function's doing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import CommitInDoubt
from app.groupcommit import ALONE, IN_FLIGHT, Batcher, Outcome

Sent = list[list[int]]


def recording(
    sent: Sent, answer: Callable[[Sequence[int]], Awaitable[list[Outcome]]]
) -> Callable[[AsyncEngine, Sequence[int]], Awaitable[list[Outcome]]]:
    """A send function that runs a real statement, notes the batch, then answers as told."""

    async def send(engine: AsyncEngine, requests: Sequence[int]) -> list[Outcome]:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        sent.append(list(requests))
        return await answer(requests)

    return send


async def answered(requests: Sequence[int]) -> list[Outcome]:
    return [None] * len(requests)  # "declined": an outcome of their own, each


async def settle_all(batcher: Batcher[Any], posts: list[asyncio.Task[Outcome]]) -> None:
    """Until the batcher has nothing queued, scheduled or out; then until the callers have
    their answers (counted in loop turns: a caller left waiting fails the test, not hangs it)."""
    await asyncio.sleep(0)  # the callers queue their requests
    while batcher._out or batcher._flush_scheduled:
        if batcher._out:
            await asyncio.gather(*batcher._out, return_exceptions=True)
        else:
            await asyncio.sleep(0)
    for _ in range(3):
        await asyncio.sleep(0)


async def test_a_batch_answering_the_wrong_count_of_rows_sends_each_request_alone(
    engine: AsyncEngine,
) -> None:
    sent: Sent = []

    async def short(requests: Sequence[int]) -> list[Outcome]:
        return [None] * (len(requests) - 1)  # a row missing

    batcher = Batcher(engine, 8, recording(sent, short), "test-batch")
    posts = [asyncio.create_task(batcher.post(n)) for n in range(3)]
    await settle_all(batcher, posts)

    assert all(post.done() for post in posts)  # none left waiting for ever
    assert [post.result() for post in posts] == [ALONE] * 3
    assert sent == [[0, 1, 2]]


async def test_a_stopped_batch_answers_its_requests_in_doubt_not_cancelled(
    engine: AsyncEngine,
) -> None:
    """Its task cancelled (the loop shutting down) while the statement was out: the callers
    were not cancelled themselves, and the statement may have committed."""
    sent: Sent = []
    started = asyncio.Event()

    async def stuck(requests: Sequence[int]) -> list[Outcome]:
        started.set()
        await asyncio.Event().wait()
        return []

    batcher = Batcher(engine, 8, recording(sent, stuck), "test-batch")
    posts = [asyncio.create_task(batcher.post(n)) for n in range(2)]
    await started.wait()
    for task in batcher._out:
        task.cancel()
    await settle_all(batcher, posts)

    for post in posts:
        assert not post.cancelled()
        assert isinstance(post.exception(), CommitInDoubt)


async def test_a_caller_gone_before_its_batch_went_out_is_not_sent(engine: AsyncEngine) -> None:
    sent: Sent = []
    batcher = Batcher(engine, 8, recording(sent, answered), "test-batch")
    posts = [asyncio.create_task(batcher.post(n)) for n in range(3)]
    await asyncio.sleep(0)  # the three queued, the flush scheduled
    assert batcher._flush_scheduled and not batcher._out
    posts[1].cancel()
    await settle_all(batcher, posts)

    assert sent == [[0, 2]]
    assert posts[1].cancelled()
    assert [posts[0].result(), posts[2].result()] == [None, None]


async def test_a_burst_beyond_a_batch_goes_out_as_two_batches_at_once(
    engine: AsyncEngine,
) -> None:
    """Seven requests in one turn, three a batch: two batches out at once (IN_FLIGHT), the
    third when one returns — not the rest waiting for a later request to come along."""
    sent: Sent = []
    out_at_once: list[int] = []
    record = recording(sent, answered)

    async def send(engine: AsyncEngine, requests: Sequence[int]) -> list[Outcome]:
        out_at_once.append(len(batcher._out))  # as the batch starts
        return await record(engine, requests)

    batcher = Batcher(engine, 3, send, "test-batch")
    posts = [asyncio.create_task(batcher.post(n)) for n in range(7)]
    await settle_all(batcher, posts)

    assert IN_FLIGHT == 2
    assert sorted(n for batch in sent for n in batch) == list(range(7))
    assert sorted(len(batch) for batch in sent) == [1, 3, 3]
    assert out_at_once[:2] == [2, 2]
    assert [post.result() for post in posts] == [None] * 7


@pytest.fixture
def other_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in a thread of its own (as a test's live server does)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()


async def test_a_request_from_another_event_loop_is_refused_before_it_is_queued(
    engine: AsyncEngine, other_loop: asyncio.AbstractEventLoop
) -> None:
    sent: Sent = []

    async def make() -> Batcher[int]:
        return Batcher(engine, 8, recording(sent, answered), "test-batch")

    theirs = asyncio.run_coroutine_threadsafe(make(), other_loop).result()

    with pytest.raises(RuntimeError, match="another event loop"):
        await theirs.post(1)

    # Their loop turns a few times: nothing of the refused request goes out there.
    for _ in range(3):
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0), other_loop).result()
    assert (sent, list(theirs._waiting), theirs.batches) == ([], [], 0)


async def test_a_batch_whose_statement_fails_sends_each_alone_and_the_next_batch_goes(
    engine: AsyncEngine,
) -> None:
    sent: Sent = []
    calls = 0

    async def first_fails(requests: Sequence[int]) -> list[Outcome]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("the statement failed as a whole")
        return await answered(requests)

    batcher: Batcher[Any] = Batcher(engine, 8, recording(sent, first_fails), "test-batch")
    first = [asyncio.create_task(batcher.post(n)) for n in range(2)]
    await settle_all(batcher, first)
    second = [asyncio.create_task(batcher.post(n)) for n in range(2, 4)]
    await settle_all(batcher, second)

    assert [post.result() for post in first] == [ALONE, ALONE]
    assert [post.result() for post in second] == [None, None]
    assert sent == [[0, 1], [2, 3]]
