"""Engine, metadata and the unit of work (one transaction per use case).

Riding out database faults (docs/OPERATIONS.md, "Faults"): pooled connections are pinged at
checkout, so one PostgreSQL closed meanwhile (restart, failover, a terminated backend) is
replaced before the use case runs. A connection lost later fails the transaction; use cases
that run in one transaction and are idempotent by key are wrapped in
:func:`retry_on_lost_connection` and run again, unless the loss happened while COMMIT was on its
way (:class:`CommitInDoubt`): then the caller is told to send the request again with its key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from functools import lru_cache, wraps
from typing import Any, ParamSpec, TypeVar

import asyncpg
from sqlalchemy import Engine, MetaData, bindparam, column, event, func, literal
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, Pool
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeEngine
from sqlalchemy.util import greenlet_spawn
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from app.errors import DomainError, ErrorCode
from app.pool import MeasuredPool

MAX_ID = 2**63 - 1  # id columns are BIGINT: a bigger id names no row (and asyncpg cannot send it)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# A lost connection is retried this many times in all, with a short jittered back-off
# (about 1.5 s at most): long enough for a failover's first reconnects, short enough that a
# database that is really down answers UNAVAILABLE instead of piling requests up.
ATTEMPTS = 4
BACKOFF_FIRST = 0.05
BACKOFF_MAX = 1.0

# SQLSTATEs that mean "this session is gone": connection exceptions (class 08) and the server
# shutting the session down (admin shutdown, crash shutdown, cannot connect now).
_SESSION_GONE = ("08", "57P01", "57P02", "57P03")


def unnest_rows(**columns: tuple[TypeEngine[Any], Sequence[Any]]) -> TableValuedAlias:
    """Many rows sent as one array parameter per column and read back as a table,
    ``unnest($1, $2, …) AS rows(name, …)``: a set-based statement for a whole batch keeps one
    shape (one prepared statement) and one round trip whatever the number of rows, where an
    executemany runs the statement once a row."""
    arrays = [literal(list(values), ARRAY(type_)) for type_, values in columns.values()]
    return _unnested(arrays, {name: type_ for name, (type_, _) in columns.items()})


def unnest_params(prefix: str, **columns: TypeEngine[Any]) -> TableValuedAlias:
    """:func:`unnest_rows`' table with each column's array a named parameter (``prefix`` and
    the column's name), for a statement built once and sent with the arrays as its parameters:
    building a statement and its cache key costs more Python than compiling it, on every call
    of a hot path (docs/PERFORMANCE.md)."""
    arrays = [bindparam(f"{prefix}{name}", type_=ARRAY(type_)) for name, type_ in columns.items()]
    return _unnested(arrays, columns)


def _unnested(arrays: Sequence[Any], columns: dict[str, TypeEngine[Any]]) -> TableValuedAlias:
    names = [column(name, type_) for name, type_ in columns.items()]
    return func.unnest(*arrays).table_valued(*names).render_derived()


def create_engine(url: str, pool_size: int = 10, application_name: str = "jifen") -> AsyncEngine:
    """An engine of up to ``2 * pool_size`` connections (``pool_size`` and as many again at a
    peak), each opened when first needed and then kept open, idle in the pool, until the engine
    is disposed. SQLAlchemy's overflow closed a connection returned to a full pool: under a
    steady load just above ``pool_size`` every request forked, authenticated and prepared a
    backend anew (docs/DECISIONS.md, "The connection pool keeps what it opens")."""
    return create_async_engine(
        url,
        pool_size=2 * pool_size,
        max_overflow=0,  # past the ceiling a request waits in line for a connection (30 s)
        # The most recently returned connection goes out first: under a light load the few
        # busy connections stay warm (no idle ping at checkout) and the rest sit untouched.
        pool_use_lifo=True,
        # A pooled connection PostgreSQL has closed is replaced at checkout instead of failing
        # the request's first statement: MeasuredPool checks it (app/pool.py), without
        # SQLAlchemy's pre-ping and its three round trips per checkout.
        poolclass=MeasuredPool,  # connections in use and requests waiting (app/metrics.py)
        # Prepared-statement caching is per connection; keep it, it is a large share of the speed.
        # Read replicas' pools name themselves "jifen-replica" (app/replicas.py).
        connect_args={"server_settings": {"application_name": application_name}},
    )


def one_statement_read(engine: AsyncEngine) -> Any:
    """A connection for a read of one statement, in autocommit: no BEGIN before it, no ROLLBACK
    after it (two round trips of three; one statement sees one snapshot either way). The
    connection comes from the engine's pool; ``async with one_statement_read(engine) as conn``."""
    return _autocommit(engine).connect()


@lru_cache(maxsize=16)  # one per engine (an option engine shares the engine's pool)
def _autocommit(engine: AsyncEngine) -> AsyncEngine:
    return engine.execution_options(isolation_level="AUTOCOMMIT")


class NotSent(ConnectionError):
    """The connection was found unusable before a statement went out (nothing was sent): the
    same work on a new connection is safe (:func:`connection_lost` says so)."""


async def autocommit_fetch(
    conn: AsyncConnection, sql: str, *args: Any, writes: bool = True
) -> list[asyncpg.Record]:
    """Run ``sql`` as its own transaction on the connection's asyncpg connection: prepared once
    per connection (asyncpg's statement cache), without SQLAlchemy's compiling and result
    machinery, for a hot statement where they cost more than they give (docs/PERFORMANCE.md).
    The engine's ``before_cursor_execute`` listeners still see it (statement counts, fault
    tests). JSON parameters are sent as JSON text; JSON columns come back decoded.

    A statement that ``writes`` is its own COMMIT: a connection lost while it is out raises
    :class:`CommitInDoubt` (never retried); a read's lost connection is retried like any other
    (its error goes up as it is). One found unusable before anything went out raises
    :class:`NotSent` (retried by :func:`retry_on_lost_connection`)."""
    sync = conn.sync_connection
    if sync is not None and sync.dispatch.before_cursor_execute:
        await greenlet_spawn(
            sync.dispatch.before_cursor_execute, sync, None, sql, args, None, False
        )
    driver = (await conn.get_raw_connection()).driver_connection
    if driver is None:
        raise NotSent("the pooled connection has no driver connection")
    try:
        rows: list[asyncpg.Record] = await driver.fetch(sql, *args)
    except Exception as error:
        unusable = isinstance(error, asyncpg.InternalClientError) or (
            isinstance(error, asyncpg.InterfaceError) and driver.is_closed()
        )
        if unusable:  # asyncpg refused before sending anything
            await conn.invalidate()
            raise NotSent(str(error)) from error
        if connection_lost(error):
            await conn.invalidate()
            if writes:
                raise CommitInDoubt("connection lost while the statement was out") from error
        raise
    if writes:
        _committed()
    return rows


class CommitInDoubt(Exception):
    """The connection was lost while COMMIT was on its way: the transaction may have committed
    or not. Never retried here; the client re-sends with the same idempotency key."""


def connection_lost(error: BaseException) -> bool:
    """True when the error means the database session is gone (not that the request is wrong),
    so the same work on a new connection may well succeed."""
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig if error.orig is not None else error
        error = getattr(error, "__cause__", None) or error  # the adapter wraps asyncpg's error
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(_SESSION_GONE):
        return True
    return isinstance(error, OSError | asyncpg.exceptions.ConnectionDoesNotExistError)


def unavailable(error: BaseException) -> DomainError | None:
    """The answer for a database fault that retrying here did not (or must not) get past."""
    if isinstance(error, CommitInDoubt):
        return DomainError(
            ErrorCode.UNAVAILABLE,
            "the database connection was lost while saving: send the same request again with "
            "the same idempotency key (it is applied at most once)",
        )
    if connection_lost(error):
        return DomainError(
            ErrorCode.UNAVAILABLE,
            "the database is unavailable: send the same request again (with the same "
            "idempotency key) in a moment",
        )
    return None


P = ParamSpec("P")
R = TypeVar("R")


# The retry policy, built once: each use case's call only copies it after a lost connection.
_LOST_CONNECTION_RETRY = AsyncRetrying(
    retry=retry_if_exception(connection_lost),
    stop=stop_after_attempt(ATTEMPTS),
    wait=wait_exponential_jitter(multiplier=BACKOFF_FIRST, max=BACKOFF_MAX, jitter=BACKOFF_FIRST),
    reraise=True,
)


def retry_on_lost_connection(use_case: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Run the use case again when its connection is lost before COMMIT was sent. Only for use
    cases that are one unit of work (or only read) and idempotent by key: a retry after a
    rollback starts from scratch, and a replayed key answers with the first result."""

    @wraps(use_case)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            try:
                return await use_case(*args, **kwargs)
            except Exception as error:
                if not connection_lost(error):
                    raise
                return await _retried(use_case, error, *args, **kwargs)
        except Exception as error:
            refusal = unavailable(error)
            if refusal is None:
                raise
            raise refusal from error

    return run


async def _retried(
    use_case: Callable[P, Awaitable[R]],
    first_error: Exception,
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> R:
    """The attempts after the first one lost its connection. The first ran bare: entering
    tenacity cost every call ~18 µs (docs/PERFORMANCE.md), and almost every first attempt
    succeeds. Tenacity's first attempt re-raises the first error, so the back-off, the number of
    attempts and what is retried are the policy's, as if tenacity had run it."""
    pending: Exception | None = first_error
    async for attempt in _LOST_CONNECTION_RETRY.copy():
        with attempt:
            if pending is not None:
                error, pending = pending, None
                raise error
            return await use_case(*args, **kwargs)
    raise AssertionError("unreachable: AsyncRetrying either returns or raises")


# What runs after a commit of a transaction that wrote rows of interest (the outbox's wake,
# app/events/wake.py): the marker its statements contain, and a plain function called in the
# event loop that must not block and must not raise.
_watch: tuple[str, Callable[[], None]] | None = None
_WROTE = "jifen_wrote"  # in a pooled connection's info: "written", then "committed"


def watch_commits(marker: str, watcher: Callable[[], None]) -> None:
    """Call ``watcher`` after each transaction of this process's engines that ran a statement
    containing ``marker`` commits (a unit of work, an ``engine.begin()`` block, a connection's
    own ``commit()``), and after each writing :func:`autocommit_fetch` (a server-side function
    call: its statements are not seen here). Called once the connection goes back to its pool
    or begins its next transaction, so always after the COMMIT's answer: Core has events
    before a commit, none after."""
    global _watch
    _watch = (marker, watcher)


def _committed() -> None:
    if _watch is not None:
        _watch[1]()


def _info(conn: Any) -> dict[Any, Any] | None:
    """The pooled connection's info; None once the connection was invalidated or closed (its
    info went with it, and asking would reconnect or raise)."""
    if conn.invalidated or conn.closed:
        return None
    info: dict[Any, Any] = conn.info
    return info


@event.listens_for(Engine, "before_cursor_execute")
def _mark_write(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    if _watch is not None and _watch[0] in statement and (info := _info(conn)) is not None:
        info[_WROTE] = "written"


@event.listens_for(Engine, "commit")
def _mark_commit(conn: Any) -> None:
    info = _info(conn)
    if info is not None and info.get(_WROTE) == "written":
        info[_WROTE] = "committed"


@event.listens_for(Engine, "rollback")
def _forget_write(conn: Any) -> None:
    info = _info(conn)
    if info is not None:
        info.pop(_WROTE, None)


@event.listens_for(Engine, "begin")
def _after_earlier_commit(conn: Any) -> None:
    info = _info(conn)
    if info is not None and info.pop(_WROTE, None) == "committed":
        _committed()


@event.listens_for(Pool, "checkin")
def _after_commit_returned(_dbapi: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
    if record is not None and record.info.pop(_WROTE, None) == "committed":
        _committed()


# Callbacks a unit of work runs once its COMMIT succeeded (None outside a unit of work).
_after_commit: ContextVar[list[Callable[[], None]] | None] = ContextVar(
    "after_commit", default=None
)


def after_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` when the current unit of work has committed (never if it rolls back).
    Outside a unit of work it is dropped: nothing here knows when that transaction ends."""
    callbacks = _after_commit.get()
    if callbacks is not None:
        callbacks.append(callback)


@asynccontextmanager
async def unit_of_work(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One transaction: commits when the block ends, rolls back when it raises. A connection
    lost during the COMMIT itself raises :class:`CommitInDoubt`."""
    callbacks: list[Callable[[], None]] = []
    token = _after_commit.set(callbacks)
    try:
        async with engine.connect() as conn:
            committing = False
            try:
                async with conn.begin():
                    yield conn
                    committing = True
            except Exception as error:
                if committing and connection_lost(error):
                    raise CommitInDoubt("connection lost during COMMIT") from error
                raise
    finally:
        _after_commit.reset(token)
    for callback in callbacks:
        callback()
