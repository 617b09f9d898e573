"""Counting the SQL statements a request runs (the N+1 guard of the query-count tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from tests.graphql.conftest import Api


@contextmanager
def counting_statements(api: Api) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # The events relay polls the outbox on the same engine in the background (its
        # statements read `events` or the backends' xids); they are not the request's.
        if "events" not in statement and "backend_xid" not in statement:
            statements.append(statement)

    engine = api.runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


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
    not grow with the page (no statement per row). Returns the count."""
    small = await statements_of(api, query, few, headers)
    large = await statements_of(api, query, many, headers)
    assert len(large) == len(small), "\n\n".join(large)
    return len(large)
