"""Riding out database faults (app/db.py): real PostgreSQL backends terminated at chosen moments
(pg_terminate_backend, always filtered on this test database), then the ledger audit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_only

from app.db import create_engine, unit_of_work
from app.errors import DomainError, ErrorCode
from app.ledger import usecases as ledger
from app.ledger.commands import Adjust, Earn
from app.ledger.groupcommit import POST_CREDITS
from app.ledger.models import Actor
from app.ledger.onetrip import POST_CREDIT
from app.members import usecases as members
from app.runtime import Runtime
from tests.ledger.test_service import _audit_after  # noqa: F401  (the ledger audit after each test)

STAFF = Actor("staff:tester", "test", frozenset({"admin"}))


@pytest.fixture
async def killer(runtime: Runtime) -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own that terminates backends of this test database only."""
    url = str(runtime.settings.database_url).replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(url)
    yield conn
    await conn.close()


async def terminate(killer: asyncpg.Connection, pid: int) -> None:
    terminated = await killer.fetchval(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE pid = $1 AND datname = current_database()",
        pid,
    )
    assert terminated, f"backend {pid} was not one of this database's"


def backend_pid(sync_conn: Any) -> int:
    pid: int = sync_conn.connection.driver_connection.get_server_pid()
    return pid


async def noticed_closed(driver: asyncpg.Connection) -> None:
    """Until the client has seen its backend go (the server's goodbye read from the socket)."""
    for _ in range(500):
        if driver.is_closed():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the client never noticed its backend was terminated")


@contextmanager
def terminated_once(
    engine: AsyncEngine,
    killer: asyncpg.Connection,
    when: str,
    statement: str = "",
    *,
    noticed: bool = False,
) -> Iterator[list[int]]:
    """Terminate the backend of the connection about to run ``statement`` (``when`` is
    "before_cursor_execute") or about to COMMIT (``when`` is "commit"), the first time only;
    ``noticed``: and wait until the client has seen it closed."""
    killed: list[int] = []

    def kill(sync_conn: Any, *args: Any) -> None:
        if killed or (when == "before_cursor_execute" and statement not in args[1]):
            return
        killed.append(backend_pid(sync_conn))
        # The listener runs inside SQLAlchemy's greenlet: it may await the killer's query.
        await_only(terminate(killer, killed[0]))
        if noticed:
            await_only(noticed_closed(sync_conn.connection.driver_connection))

    event.listen(engine.sync_engine, when, kill)
    try:
        yield killed
    finally:
        event.remove(engine.sync_engine, when, kill)


async def new_member(rt: Runtime, ref: str = "f-1") -> int:
    return (await members.register_member(rt, channel="test", external_ref=ref)).member.id


async def earn(rt: Runtime, member_id: int, key: str, amount: int = 100) -> int:
    entry = await ledger.earn_points(
        rt, STAFF, Earn(member_id=member_id, amount=amount, reason="fault"), idempotency_key=key
    )
    return entry.id


async def adjust(rt: Runtime, member_id: int, key: str, amount: int = 100) -> int:
    """A write on the ledger's path (BEGIN, statements, COMMIT): an earn is one statement."""
    entry = await ledger.adjust_points(
        rt, STAFF, Adjust(member_id=member_id, amount=amount, reason="fault"), idempotency_key=key
    )
    return entry.id


async def test_a_pooled_connection_postgres_closed_is_replaced_before_use(
    runtime: Runtime, killer: asyncpg.Connection
) -> None:
    """Pinged at checkout: here every checkout, as if the connection had sat idle (app/pool.py
    pings one idle for a second or more)."""
    engine = create_engine(str(runtime.settings.database_url), pool_size=1)
    engine.pool.ping_after_idle = 0  # type: ignore[attr-defined]
    try:
        async with engine.connect() as conn:
            pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        await terminate(killer, pid)  # the pool still holds this connection, now closed

        async with unit_of_work(engine) as conn:
            replacement = await conn.scalar(text("SELECT pg_backend_pid()"))
        assert replacement != pid
    finally:
        await engine.dispose()


async def test_a_pooled_connection_seen_closed_is_replaced_without_a_ping(
    runtime: Runtime, killer: asyncpg.Connection
) -> None:
    """A connection back in the pool a moment ago is not pinged; one whose close the client has
    seen (the server's goodbye read) is replaced all the same."""
    engine = create_engine(str(runtime.settings.database_url), pool_size=1)
    try:
        async with engine.connect() as conn:
            pid = await conn.scalar(text("SELECT pg_backend_pid()"))
            driver = (await conn.get_raw_connection()).driver_connection
        await terminate(killer, pid)
        await noticed_closed(driver)

        async with unit_of_work(engine) as conn:
            replacement = await conn.scalar(text("SELECT pg_backend_pid()"))
        assert replacement != pid
    finally:
        await engine.dispose()


async def test_a_write_whose_connection_is_lost_before_commit_runs_again_once(
    runtime: Runtime, killer: asyncpg.Connection
) -> None:
    member_id = await new_member(runtime)
    with terminated_once(runtime.engine, killer, "before_cursor_execute", "INSERT INTO entries"):
        await adjust(runtime, member_id, "retried")
    assert (await ledger.get_balance(runtime, member_id)).available == 100
    history = await ledger.list_history(runtime, member_id, first=10)
    assert [entry.amount for entry in history] == [100]


async def test_a_write_cut_off_during_commit_is_not_retried_and_its_key_resends_it_once(
    runtime: Runtime, killer: asyncpg.Connection
) -> None:
    member_id = await new_member(runtime)
    with (
        terminated_once(runtime.engine, killer, "commit") as killed,
        pytest.raises(DomainError) as refused,
    ):
        await adjust(runtime, member_id, "in-doubt")
    assert refused.value.code is ErrorCode.UNAVAILABLE
    assert len(killed) == 1  # one attempt: a retry after a COMMIT was sent could double it

    # The client re-sends with the same key: applied once, whichever way the COMMIT went.
    first = await adjust(runtime, member_id, "in-doubt")
    again = await adjust(runtime, member_id, "in-doubt")
    assert first == again
    assert (await ledger.get_balance(runtime, member_id)).available == 100


def earning_alone(rt: Runtime, alone: bool) -> Runtime:
    """The runtime with group commit on (as by default) or off (each earn its own statement)."""
    settings = rt.settings.model_copy(update={"earn_batch_max": 0}) if alone else rt.settings
    return Runtime(settings=settings, engine=rt.engine, redis=rt.redis, clock=rt.clock)


@pytest.mark.parametrize("alone", [True, False], ids=["alone", "batched"])
async def test_an_earn_whose_connection_died_before_its_one_statement_runs_again_once(
    runtime: Runtime, killer: asyncpg.Connection, alone: bool
) -> None:
    """The earn's posting is one statement (app/ledger/onetrip.py), alone or with the earns
    that arrived with it (app/ledger/groupcommit.py): a connection found dead before it went out
    is replaced and the statement sent again, for every earn in it. (Killed just before the
    send, with the client not yet aware, the loss may only show once the statement is out: that
    is in doubt, the next tests.)"""
    rt = earning_alone(runtime, alone)
    people = [await new_member(rt, f"f-{i}") for i in range(3)]
    statement = POST_CREDIT if alone else POST_CREDITS
    with terminated_once(
        rt.engine, killer, "before_cursor_execute", statement, noticed=True
    ) as killed:
        await asyncio.gather(*(earn(rt, m, f"retried-{m}") for m in people))
    assert len(killed) == 1
    for m in people:
        assert (await ledger.get_balance(rt, m)).available == 100


@pytest.mark.parametrize("alone", [True, False], ids=["alone", "batched"])
async def test_an_earn_cut_off_while_its_one_statement_is_out_is_in_doubt_and_resends_once(
    runtime: Runtime, killer: asyncpg.Connection, alone: bool
) -> None:
    """The statement is its own COMMIT: a connection lost while it is out (here: while it waits
    for the first member's account lock, which the killer holds) is in doubt, never retried —
    for every earn in it when the earns went out together."""
    rt = earning_alone(runtime, alone)
    people = [await new_member(rt, f"f-{i}") for i in range(3)]
    holder = await asyncpg.connect(
        str(rt.settings.database_url).replace("postgresql+asyncpg://", "postgresql://")
    )
    try:
        async with holder.transaction():
            await holder.execute(
                "SELECT 1 FROM accounts WHERE member_id = $1 FOR UPDATE", people[0]
            )
            posting = asyncio.gather(
                *(earn(rt, m, f"in-doubt-{m}") for m in people), return_exceptions=True
            )
            waiting = None
            for _ in range(200):
                waiting = await killer.fetchval(  # blocked by the holder, not any brief wait
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND $1 = ANY(pg_blocking_pids(pid)) AND query LIKE '%ledger_post_credit%'",
                    holder.get_server_pid(),
                )
                if waiting is not None:
                    break
                await asyncio.sleep(0.01)
            assert waiting is not None, "the earn never waited for the account lock"
            await terminate(killer, waiting)
            answers = await posting
    finally:
        await holder.close()
    in_doubt = [isinstance(a, DomainError) and a.code is ErrorCode.UNAVAILABLE for a in answers]
    assert in_doubt == ([True, False, False] if alone else [True, True, True]), answers

    for m in people:
        first = await earn(rt, m, f"in-doubt-{m}")
        again = await earn(rt, m, f"in-doubt-{m}")
        assert first == again
        assert (await ledger.get_balance(rt, m)).available == 100


async def test_a_database_that_stays_unreachable_answers_unavailable(runtime: Runtime) -> None:
    unreachable = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere", pool_size=1)
    try:
        dead = Runtime(runtime.settings, unreachable, runtime.redis, runtime.clock)
        with pytest.raises(DomainError) as refused:
            await ledger.get_balance(dead, 1)
        assert refused.value.code is ErrorCode.UNAVAILABLE
    finally:
        await unreachable.dispose()
