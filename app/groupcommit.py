"""Group commit: the requests one API process has in hand at the same moment share one
statement and one COMMIT, each request's outcome still its own.

The statement (a SQL function over arrays, one element per request) answers a row per request:
its own outcome. ``send`` turns those rows into one outcome per request, in their order — a row,
None (declined: the caller runs its ordinary path) or :data:`ALONE` (the batch could not decide
it: the caller sends it again on its own, so its error is the one it would have met alone).

No timer: a request is queued and a flush is scheduled for the event loop's next turn, so a lone
request goes out at once and the requests that arrived in the same turn go with it. While
``IN_FLIGHT`` batches are out, new requests wait and go together when one returns — the busier
the process, the bigger the batch, up to the cap.

The batch is one statement in autocommit, so its faults are one request's faults, for every
request in it: a connection found unusable before it went out raises :class:`app.db.NotSent`
to each (each is retried, by :func:`app.db.retry_on_lost_connection`), one lost while it was
out raises :class:`app.db.CommitInDoubt` to each (each client re-sends with its key). Any other
error of the whole statement (also one its COMMIT raises) sends each request again alone.

Users: ``earnPoints`` (app/ledger/groupcommit.py, ``ledger_post_credits()``), a redemption's
placement, a flash sale's winners (app/mall/onetrip.py, ``mall_place_orders()``), and
``checkIn``'s one statement (app/engagement/onetrip.py, ``engagement_check_ins()``).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeAlias, TypeVar

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import CommitInDoubt, connection_lost

# Requests in one statement at most: each is a subtransaction, and a transaction with more than
# 64 makes other sessions' snapshots slow (PostgreSQL's subtransaction cache overflows). A
# batcher's cap is held to it.
POSTINGS_MAX = 60

# Batches out at once per process. Two: one is being written while the next one fills up, and
# PostgreSQL's backend work of one batch overlaps the API's work for the next.
IN_FLIGHT = 2


class Alone:
    """The answer for a request the batch could not decide: send it again on its own."""


ALONE = Alone()
# A request's row (done), None (declined: the caller's ordinary path answers) or ALONE.
Outcome: TypeAlias = asyncpg.Record | Alone | None

R = TypeVar("R")
Send: TypeAlias = Callable[[AsyncEngine, Sequence[R]], Awaitable[list[Outcome]]]


def outcomes_by_index(rows: Sequence[asyncpg.Record], count: int) -> list[Outcome]:
    """A batch function's rows (``out_index``, 1-based; ``out_outcome``) as one outcome per
    request: ``declined`` None, ``failed`` (or no row) ALONE, any other the row itself."""
    outcomes: list[Outcome] = [ALONE] * count
    for row in rows:
        outcome = row["out_outcome"]
        outcomes[row["out_index"] - 1] = (
            None if outcome == "declined" else ALONE if outcome == "failed" else row
        )
    return outcomes


class Batcher(Generic[R]):
    """A process's queue of requests waiting for their batch (one per use, runtime and event
    loop); ``send`` writes a batch in one statement.

    Every request that went out is answered exactly once, whatever happens to its batch: an
    outcome, the statement's connection fault, or — the batch stopped before its answer came
    (its task cancelled, an error of the batcher's own) — :class:`app.db.CommitInDoubt`, the
    caller's cue to send the same request again with its key. A request whose caller stopped
    waiting (cancelled: a client gone) before its batch went out is not sent."""

    def __init__(self, engine: AsyncEngine, cap: int, send: Send[R], name: str) -> None:
        self.engine = engine
        self.cap = cap
        self.send = send
        self.name = name
        self.loop = asyncio.get_running_loop()
        self.batches = 0  # statements sent: what the tests count
        self._waiting: deque[tuple[R, asyncio.Future[Outcome]]] = deque()
        self._out: set[asyncio.Task[None]] = set()
        self._flush_scheduled = False

    async def post(self, request: R) -> Outcome:
        """The request's outcome, once the batch it went out in has committed."""
        if asyncio.get_running_loop() is not self.loop:
            # Its future, its flush and its batch's task all live on the batcher's loop: from
            # another one it would be sent there unseen, or never. Refused before it is queued.
            raise RuntimeError(f"{self.name}: posted from another event loop than its own")
        future: asyncio.Future[Outcome] = self.loop.create_future()
        self._waiting.append((request, future))
        self._schedule_flush()
        return await future

    def _schedule_flush(self) -> None:
        if self._flush_scheduled or not self._waiting or len(self._out) >= IN_FLIGHT:
            return
        self._flush_scheduled = True
        # A context of its own: the batch belongs to no one request (their context variables,
        # e.g. the balances a request posted, stay in their own tasks).
        self.loop.call_soon(self._flush, context=contextvars.Context())

    def _flush(self) -> None:
        self._flush_scheduled = False
        # Up to IN_FLIGHT batches go out now: what is left beyond a full batch does not wait
        # for the next request to come along.
        while len(self._out) < IN_FLIGHT:
            batch = self._next_batch()
            if not batch:
                return
            task = self.loop.create_task(self._send(batch), name=self.name)
            self._out.add(task)
            task.add_done_callback(self._returned)

    def _next_batch(self) -> list[tuple[R, asyncio.Future[Outcome]]]:
        """The next ``cap`` requests whose callers still wait (a cancelled one is dropped:
        nothing of it was sent, so nothing is written for a caller who is gone)."""
        batch: list[tuple[R, asyncio.Future[Outcome]]] = []
        while self._waiting and len(batch) < self.cap:
            waiting = self._waiting.popleft()
            if not waiting[1].done():
                batch.append(waiting)
        return batch

    def _returned(self, task: asyncio.Task[None]) -> None:
        self._out.discard(task)
        self._schedule_flush()

    async def _send(self, batch: list[tuple[R, asyncio.Future[Outcome]]]) -> None:
        self.batches += 1
        try:
            for (_, future), outcome in zip(batch, await self._outcomes(batch), strict=True):
                _settle(future, outcome)
        except Exception as error:  # the statement's connection fault: each request's own
            for _, future in batch:
                _settle(future, error=error)
        finally:
            # Stopped before the answers came (cancelled with the loop, or a fault of ours):
            # the statement may have committed, so in doubt — never left waiting for ever.
            for _, future in batch:
                _settle(future, error=CommitInDoubt(f"{self.name}: stopped before its answer"))

    async def _outcomes(self, batch: list[tuple[R, asyncio.Future[Outcome]]]) -> list[Outcome]:
        """One outcome per request: the statement's, or ALONE for each when the statement
        failed as a whole (or answered another count of rows); a connection fault is raised."""
        try:
            outcomes = await self.send(self.engine, [request for request, _ in batch])
        except Exception as error:
            if isinstance(error, CommitInDoubt) or connection_lost(error):
                raise
            return [ALONE] * len(batch)
        return outcomes if len(outcomes) == len(batch) else [ALONE] * len(batch)


def _settle(
    future: asyncio.Future[Outcome], outcome: Outcome = None, *, error: Exception | None = None
) -> None:
    if future.done():  # its request was cancelled meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(outcome)
