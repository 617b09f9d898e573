"""Counting the SQL statements a request runs (the N+1 guard of the query-count tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from app.engagement.onetrip import BATCH_TASK
from tests.graphql.conftest import Api
from tests.statements import counting

# Set while a test counts: the request runs in the test's context (and the tasks it starts
# inherit it), while the app's background tasks (the events relay, the leaderboard projector,
# started before) do not see it, so their statements on the same engine are not counted.
_counting: ContextVar[bool] = ContextVar("counting_statements", default=False)


def _background(statement: str) -> bool:
    return not _counting.get() and not _checking_in()


def _checking_in() -> bool:
    """A batch of check-ins (group commit) is sent by a task of its own, in a context of its
    own: its statement is the requests' in it, each counting it as its one statement."""
    task = asyncio.current_task()
    return task is not None and task.get_name() == BATCH_TASK


@contextmanager
def counting_statements(api: Api) -> Iterator[list[str]]:
    token = _counting.set(True)
    try:
        with counting(api.runtime, ignore=_background) as statements:
            yield statements
    finally:
        _counting.reset(token)


async def statements_of(
    api: Api, query: str, variables: dict[str, Any], headers: dict[str, str]
) -> list[str]:
    """The statements one request ran (it must answer without errors)."""
    with counting_statements(api) as statements:
        body = await api.call(query, variables, headers)
    assert "errors" not in body, body
    return statements


async def assert_same_statements(
    api: Api,
    query: str,
    few: dict[str, Any],
    many: dict[str, Any],
    headers: dict[str, str],
) -> int:
    """A list read with ``few`` rows and with ``many`` runs as many statements: the count does
    not grow with the page (no statement per row). Returns the count.

    A request first warms what a process caches on first use (the experiments' definitions,
    say): their loading is once a process, not a statement a row, and whether an earlier test in
    the same process already loaded them must not decide the count."""
    await statements_of(api, query, few, headers)
    small = await statements_of(api, query, few, headers)
    large = await statements_of(api, query, many, headers)
    assert len(large) == len(small), "\n\n".join(large)
    return len(large)
