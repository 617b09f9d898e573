"""The process-wide parts every use case needs, built once at start-up."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.clock import Clock
from app.config import Settings
from app.db import one_statement_read
from app.redisclient import RedisClient
from app.replicas import ReadReplicas, member_key

if TYPE_CHECKING:
    from app.events.broadcast import EventHub


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    redis: RedisClient  # a single server's client or a RedisCluster (app/redisclient.py)
    clock: Clock
    # The process's event fan-out (subscriptions); None where nothing subscribes (CLI commands).
    hub: EventHub | None = None
    # Read replicas (JIFEN_DATABASE_REPLICA_URLS); None: every read goes to the primary.
    replicas: ReadReplicas | None = None
    # Per-process caches a domain keeps for this runtime (e.g. the mall's flash items).
    caches: dict[str, Any] = field(default_factory=dict)

    def read(
        self, *members: int, one_statement: bool = False
    ) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for a read that decides nothing. On a read replica when the caller
        opted in (a GraphQL query: app/replicas.py) and one has replayed the last writes of the
        caller and of ``members``; else, and always without replicas, on the primary.
        ``one_statement``: the read is one statement, run in autocommit (app/db.py)."""
        if self.replicas is None:
            return one_statement_read(self.engine) if one_statement else self.engine.connect()
        return self.replicas.connect(members, one_statement=one_statement)

    async def members_written(self, members: Iterable[int]) -> None:
        """After the commit of a write no GraphQL mutation made (a job's, a command's): the
        next reads of ``members`` must see it, so that what the primary already showed never
        goes back on a lagging replica (read-your-writes, app/replicas.py). Nothing without
        replicas."""
        if self.replicas is not None:
            await self.replicas.remember_write(map(member_key, members))
