"""A committed write is answered from its own transaction: nothing is read after the COMMIT,
so a database fault right after it cannot turn a done write into an error."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from app.ledger.groupcommit import POST_CREDITS
from app.ledger.onetrip import POST_CREDIT
from tests.graphql.conftest import Api


@contextmanager
def checkouts_and_commits(api: Api) -> Iterator[list[str]]:
    """The engine's connection checkouts and COMMITs for requests, in order: the app's own
    background tasks (named jifen-…: the events relay, the leaderboards) are left out. An earn
    posted in one statement (app/ledger/onetrip.py), alone or in a batch
    (app/ledger/groupcommit.py), is its own COMMIT."""
    happened: list[str] = []
    engine = api.runtime.engine.sync_engine

    def for_a_request() -> bool:
        task = asyncio.current_task()
        return task is None or not task.get_name().startswith("jifen-")

    def checkout(*_: Any) -> None:
        if for_a_request():
            happened.append("checkout")

    def commit(*_: Any) -> None:
        if for_a_request():
            happened.append("commit")

    def autocommit(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement in (POST_CREDIT, POST_CREDITS):
            commit()

    event.listen(engine.pool, "checkout", checkout)
    event.listen(engine, "commit", commit)
    event.listen(engine, "before_cursor_execute", autocommit)
    try:
        yield happened
    finally:
        event.remove(engine.pool, "checkout", checkout)
        event.remove(engine, "commit", commit)
        event.remove(engine, "before_cursor_execute", autocommit)


def after_last_commit(happened: list[str]) -> list[str]:
    assert "commit" in happened, happened
    return happened[len(happened) - happened[::-1].index("commit") :]


async def test_earn_answers_its_balance_without_a_connection_after_the_commit(api: Api) -> None:
    member_id = await api.register("pos", "fault-1")
    await api.earn(member_id, 40, "before")

    with checkouts_and_commits(api) as happened:
        result = await api.earn(member_id, 60, "answered-from-the-write")

    assert result["balance"] == {"available": 100, "total": 100}
    assert after_last_commit(happened) == [], happened


async def test_a_replayed_earn_reads_the_balance_as_of_now(api: Api) -> None:
    member_id = await api.register("pos", "fault-2")
    await api.earn(member_id, 60, "once")
    await api.earn(member_id, 15, "other")

    replay = await api.earn(member_id, 60, "once")

    assert replay["balance"] == {"available": 75, "total": 75}
