"""The PostgreSQL connection pool, measured: connections in use, requests waiting for one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from app import metrics


class MeasuredPool(AsyncAdaptedQueuePool):
    """SQLAlchemy's asyncio pool, counting connections in use and requests waiting for one."""

    # SQLAlchemy names a pool's logger after its class: keep the quiet name it had.
    _sqla_logger_namespace = "sqlalchemy.pool.impl.AsyncAdaptedQueuePool"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        event.listen(self, "checkout", _checked_out)
        event.listen(self, "checkin", _checked_in)

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


def _checked_out(*_: Any) -> None:
    metrics.db_pool_in_use.inc()


def _checked_in(*_: Any) -> None:
    metrics.db_pool_in_use.dec()
