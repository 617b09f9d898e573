"""The PostgreSQL connection pool, measured (connections in use, requests waiting for one) and
checked at checkout (a connection PostgreSQL closed is replaced before it is used).

The check at checkout (docs/DECISIONS.md, "Riding out database faults"): SQLAlchemy's
``pool_pre_ping`` sent BEGIN, ``;`` and ROLLBACK on every checkout — three round trips, more than
an earn's posting itself (docs/PERFORMANCE.md). Here a connection is refused at checkout when its
client has seen the server close it (asyncpg marks it closed when the server's goodbye or the
socket's end arrives: a restart, a terminated backend), and pinged (one ``;``) only when it sat
in the pool for :data:`PING_AFTER_IDLE_SECONDS` or more, where a silent loss (a failover, a
dropped network path) is likely and a round trip costs nothing anyone waits for. A loss neither
shows is a statement's error, which the use cases retry (:func:`app.db.retry_on_lost_connection`).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util import await_only

from app import metrics

PING_AFTER_IDLE_SECONDS = 1.0
_RETURNED = "jifen.returned_at"  # when the connection came back to the pool (monotonic)


class MeasuredPool(AsyncAdaptedQueuePool):
    """SQLAlchemy's asyncio pool, counting connections in use and requests waiting for one."""

    # SQLAlchemy names a pool's logger after its class: keep the quiet name it had.
    _sqla_logger_namespace = "sqlalchemy.pool.impl.AsyncAdaptedQueuePool"

    # How long a connection may sit in the pool before its checkout pings it (tests set 0).
    ping_after_idle = PING_AFTER_IDLE_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        event.listen(self, "checkout", self._checked_out)
        event.listen(self, "checkin", _checked_in)

    def _checked_out(self, dbapi_connection: Any, record: ConnectionPoolEntry, _: Any) -> None:
        """Refuse (the pool then takes another) a connection closed under us; ping one that
        sat idle long enough to have been lost silently."""
        driver = record.driver_connection
        returned = record.info.get(_RETURNED)
        if driver is not None and driver.is_closed():
            raise DisconnectionError("the server closed this pooled connection")
        idle = time.monotonic() - returned if returned is not None else 0.0
        if driver is not None and idle >= self.ping_after_idle:
            try:
                await_only(driver.fetchrow(";"))
            except Exception as error:
                raise DisconnectionError(f"the pooled connection failed a ping: {error}") from error
        metrics.db_pool_in_use.inc()

    def _do_get(self) -> ConnectionPoolEntry:
        # SQLAlchemy says nothing about waiters: a request waits when every pooled and overflow
        # connection is out (the same test QueuePool makes before it blocks).
        if not self._pool.qsize() and self.overflow() >= self._max_overflow:
            metrics.db_pool_waiting.inc()
            try:
                return super()._do_get()
            finally:
                metrics.db_pool_waiting.dec()
        return super()._do_get()


def _checked_in(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_RETURNED] = time.monotonic()
    metrics.db_pool_in_use.dec()
