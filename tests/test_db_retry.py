"""``retry_on_lost_connection`` (app/db.py) on its own: the first attempt runs bare, and only a
lost connection enters the retry policy (tests/test_db.py loses real connections)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from app import db
from app.db import ATTEMPTS, BACKOFF_FIRST, CommitInDoubt, retry_on_lost_connection
from app.errors import DomainError, ErrorCode


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The back-offs the policy waits, recorded instead of slept."""
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr(db, "_LOST_CONNECTION_RETRY", db._LOST_CONNECTION_RETRY.copy(sleep=sleep))
    return waited


def failing(errors: list[Exception]) -> tuple[list[int], Callable[[int], Awaitable[int]]]:
    """A use case that raises ``errors`` one call after another, then answers its argument."""
    calls: list[int] = []

    async def use_case(value: int) -> int:
        calls.append(value)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return value

    return calls, use_case


@pytest.mark.parametrize("losses", [1, ATTEMPTS - 1])
async def test_a_lost_connection_is_run_again_with_a_back_off(
    sleeps: list[float], losses: int
) -> None:
    calls, use_case = failing([ConnectionResetError("gone")] * losses)
    assert await retry_on_lost_connection(use_case)(7) == 7
    assert calls == [7] * (losses + 1)
    assert len(sleeps) == losses
    assert all(seconds >= BACKOFF_FIRST * 2**n for n, seconds in enumerate(sleeps))


async def test_a_connection_lost_at_every_attempt_answers_unavailable(sleeps: list[float]) -> None:
    calls, use_case = failing([ConnectionResetError("gone")] * (ATTEMPTS + 5))
    with pytest.raises(DomainError) as refused:
        await retry_on_lost_connection(use_case)(7)
    assert refused.value.code is ErrorCode.UNAVAILABLE
    assert len(calls) == ATTEMPTS
    assert len(sleeps) == ATTEMPTS - 1


async def test_the_first_attempt_succeeding_enters_no_retry(sleeps: list[float]) -> None:
    calls, use_case = failing([])
    assert await retry_on_lost_connection(use_case)(3) == 3
    assert calls == [3]
    assert sleeps == []


@pytest.mark.parametrize(
    "error",
    [ValueError("a request's own error"), CommitInDoubt("lost while COMMIT was out")],
    ids=["other", "in-doubt"],
)
async def test_any_other_error_is_not_run_again(sleeps: list[float], error: Exception) -> None:
    calls, use_case = failing([error])
    with pytest.raises((ValueError, DomainError)) as raised:
        await retry_on_lost_connection(use_case)(1)
    assert calls == [1]
    assert sleeps == []
    if isinstance(error, CommitInDoubt):
        assert isinstance(raised.value, DomainError)
        assert raised.value.code is ErrorCode.UNAVAILABLE
    else:
        assert raised.value is error
