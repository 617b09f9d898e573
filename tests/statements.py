"""Counting the SQL statements some code runs on a runtime's engine (statement-count tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from app.runtime import Runtime


def _nothing(statement: str) -> bool:
    return False


@contextmanager
def counting(runtime: Runtime, *, ignore: Callable[[str], bool] = _nothing) -> Iterator[list[str]]:
    """The statements run while inside, but those ``ignore`` picks out."""
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not ignore(statement):
            statements.append(statement)

    engine = runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)
